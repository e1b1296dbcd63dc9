"""Operators in plain PyTorch (no OpenMMLab import): one family per file."""
from .external_attention import ExternalAttention, MultiHeadExternalAttention
from .lambda_layer import LambdaLayer
from .levit_blocks import (ConvBN, LeViTAttention, LeViTBlock, LeViTMlp, LeViTShrinkAttention,
                           LeViTShrinkBlock, LeViTStem, LinearBN)
from .xvolution import XVolution

__all__ = [
    'ConvBN', 'ExternalAttention', 'LambdaLayer', 'LeViTAttention', 'LeViTBlock', 'LeViTMlp',
    'LeViTShrinkAttention', 'LeViTShrinkBlock', 'LeViTStem', 'LinearBN',
    'MultiHeadExternalAttention', 'XVolution'
]
