"""Deprecated: moved to :mod:`mmattn.apis.export` (mmattn 0.2)."""
from mmattn.apis.export import TensorForward, check_onnx, export_onnx
from ._deprecated import warn_moved

__all__ = ['TensorForward', 'check_onnx', 'export_onnx']
warn_moved(__name__, 'mmattn.apis.export')
