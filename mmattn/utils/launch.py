"""Deprecated: moved to :mod:`mmattn.apis.launch` and :mod:`mmattn.utils.config` (mmattn 0.2)."""
from mmattn.apis.launch import (add_common_args, apply_test_args, apply_train_args,
                                setup_cpu_distributed)
from ._deprecated import warn_moved
from .config import drop_pretrained_init, host_library, replace_sync_bn

__all__ = [
    'add_common_args', 'apply_test_args', 'apply_train_args', 'drop_pretrained_init',
    'host_library', 'replace_sync_bn', 'setup_cpu_distributed'
]
warn_moved(__name__, 'mmattn.apis.launch / mmattn.utils.config')
