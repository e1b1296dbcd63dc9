"""Deprecated: moved to :mod:`mmattn.apis.smoke` (mmattn 0.2)."""
from ._deprecated import forward_module

__all__ = ['make_synthetic_data', 'run_smoke_test', 'shrink_config']
globals().update(forward_module(__name__, 'mmattn.apis.smoke', tuple(__all__)))
