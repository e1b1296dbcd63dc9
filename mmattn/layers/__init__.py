"""Operators in plain PyTorch: importable and usable with torch alone (no OpenMMLab import).

One family per file; :mod:`.reparam` holds the deploy contract and BN folding they share.
"""
from .external_attention import ExternalAttention, MultiHeadExternalAttention
from .lambda_layer import LambdaLayer
from .levit_blocks import (ConvBN, DropPath, LeViTAttention, LeViTBlock, LeViTMlp,
                           LeViTShrinkAttention, LeViTShrinkBlock, LeViTStem, LinearBN)
from .reparam import (Reparameterizable, bn_scale_shift, foldable_norm, fuse_conv_bn,
                      fuse_linear_bn, switch_to_deploy)
from .xvolution import XVolution

__all__ = [
    'ConvBN', 'DropPath', 'ExternalAttention', 'LambdaLayer', 'LeViTAttention', 'LeViTBlock',
    'LeViTMlp', 'LeViTShrinkAttention', 'LeViTShrinkBlock', 'LeViTStem', 'LinearBN',
    'MultiHeadExternalAttention', 'Reparameterizable', 'XVolution', 'bn_scale_shift',
    'foldable_norm', 'fuse_conv_bn', 'fuse_linear_bn', 'switch_to_deploy'
]
