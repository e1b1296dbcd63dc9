"""Deprecated: moved to :mod:`mmattn.apis.export` (mmattn 0.2)."""
from ._deprecated import forward_module

__all__ = ['TensorForward', 'check_onnx', 'export_onnx']
globals().update(forward_module(__name__, 'mmattn.apis.export', tuple(__all__)))
