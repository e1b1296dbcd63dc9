"""Small shared helpers (plain PyTorch unless the module name says otherwise)."""
from .deploy import fuse_conv_bn, fuse_linear_bn, switch_to_deploy

__all__ = ['fuse_conv_bn', 'fuse_linear_bn', 'switch_to_deploy']
