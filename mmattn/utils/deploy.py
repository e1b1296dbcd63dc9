"""Deprecated: moved to :mod:`mmattn.layers.reparam` (mmattn 0.2)."""
from mmattn.layers.reparam import bn_scale_shift, fuse_conv_bn, fuse_linear_bn, switch_to_deploy
from ._deprecated import warn_moved

__all__ = ['bn_scale_shift', 'fuse_conv_bn', 'fuse_linear_bn', 'switch_to_deploy']
warn_moved(__name__, 'mmattn.layers.reparam')
