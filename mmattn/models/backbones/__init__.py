"""Registered OpenMMLab adapters."""
from .lambda_resnet import LambdaResNet  # noqa: F401
from .levit import LeViT  # noqa: F401
from .ea_resnet import EAResNet  # noqa: F401
