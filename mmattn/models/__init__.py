"""OpenMMLab adapters: registered backbones, decode heads, plugins and test-time segmentors."""
from . import backbones, decode_heads, plugins, segmentors  # noqa: F401
