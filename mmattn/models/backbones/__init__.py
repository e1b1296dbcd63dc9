"""Registered backbones: ResNet variants with lambda layers or External Attention, and LeViT."""
from .ea_resnet import EAResNet
from .lambda_resnet import LambdaResNet
from .levit import LeViT

__all__ = ['EAResNet', 'LambdaResNet', 'LeViT']
