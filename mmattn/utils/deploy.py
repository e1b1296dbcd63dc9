"""Deprecated: moved to :mod:`mmattn.layers.reparam` (mmattn 0.2)."""
from ._deprecated import forward_module

__all__ = ['bn_scale_shift', 'fuse_conv_bn', 'fuse_linear_bn', 'switch_to_deploy']
globals().update(forward_module(__name__, 'mmattn.layers.reparam', tuple(__all__)))
