"""Registered mmseg decode heads."""
from .ea_head import EAHead

__all__ = ['EAHead']
