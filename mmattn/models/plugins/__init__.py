"""Registered layers for ResNet's ``dcn=`` (conv2) and ``plugins=`` hooks."""
from .ea_plugin import ExternalAttentionPlugin
from .xvolution import XVolution

__all__ = ['ExternalAttentionPlugin', 'XVolution']
