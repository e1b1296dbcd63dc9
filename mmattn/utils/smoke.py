"""Deprecated: moved to :mod:`mmattn.apis.smoke` (mmattn 0.2)."""
from mmattn.apis.smoke import make_synthetic_data, run_smoke_test, shrink_config
from ._deprecated import warn_moved

__all__ = ['make_synthetic_data', 'run_smoke_test', 'shrink_config']
warn_moved(__name__, 'mmattn.apis.smoke')
