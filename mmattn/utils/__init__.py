"""Small shared helpers of the OpenMMLab side: compat fixes, config walking, submissions.

The BN-folding helpers that lived here in mmattn 0.1 are in :mod:`mmattn.layers` now;
``mmattn.utils.switch_to_deploy`` & co. still resolve, with a DeprecationWarning, until 0.3.
"""
import warnings

_MOVED_TO_LAYERS = ('bn_scale_shift', 'fuse_conv_bn', 'fuse_linear_bn', 'switch_to_deploy')


def __getattr__(name: str):
    if name in _MOVED_TO_LAYERS:
        warnings.warn(f'mmattn.utils.{name} moved to mmattn.layers.{name} in mmattn 0.2; the '
                      'old name goes in 0.3.', DeprecationWarning, stacklevel=2)
        from mmattn import layers
        return getattr(layers, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
