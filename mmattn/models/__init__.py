"""OpenMMLab adapters: registered backbones, decode heads, plugins, the test-time data
preprocessor, test-time segmentors, and the ``StrictPretrained`` init type (stage-1 checkpoints
into stage-2 backbones)."""
from . import (backbones, data_preprocessor, decode_heads, plugins, pretrained,  # noqa: F401
               segmentors)
