"""Operators in plain PyTorch (no OpenMMLab import): one family per file."""
from .external_attention import ExternalAttention, MultiHeadExternalAttention  # noqa: F401
from .lambda_layer import LambdaLayer  # noqa: F401
from .levit_blocks import (ConvBN, LeViTAttention, LeViTBlock, LeViTMlp,  # noqa: F401
                           LeViTShrinkAttention, LeViTShrinkBlock, LeViTStem, LinearBN)
from .xvolution import XVolution  # noqa: F401
