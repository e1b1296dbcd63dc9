"""Registered OpenMMLab adapters."""
from .ea_head import EAHead  # noqa: F401
