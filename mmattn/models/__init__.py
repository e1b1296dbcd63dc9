"""OpenMMLab adapters: registered backbones, decode heads, plugins, the test-time data
preprocessor and test-time segmentors."""
from . import backbones, data_preprocessor, decode_heads, plugins, segmentors  # noqa: F401
