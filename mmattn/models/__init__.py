"""OpenMMLab adapters: registered backbones, decode heads, plugins and test-time segmentors, and
the ``StrictPretrained`` init type (stage-1 checkpoints into stage-2 backbones)."""
from . import backbones, decode_heads, plugins, pretrained, segmentors  # noqa: F401
