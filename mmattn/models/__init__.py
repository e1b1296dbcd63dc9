"""OpenMMLab adapters: registered backbones, decode heads and plugins."""
from . import backbones, decode_heads, plugins  # noqa: F401
