"""Registered OpenMMLab adapters."""
from .xvolution import XVolution  # noqa: F401
from .ea_plugin import ExternalAttentionPlugin  # noqa: F401
