"""Deprecated: moved to :mod:`mmattn.apis.launch` and :mod:`mmattn.utils.config` (mmattn 0.2)."""
from ._deprecated import forward_module

__all__ = ['add_common_args', 'apply_test_args', 'apply_train_args', 'setup_cpu_distributed']
globals().update(forward_module(__name__, 'mmattn.apis.launch', tuple(__all__)))
globals().update(forward_module(__name__, 'mmattn.utils.config',
                                ('drop_pretrained_init', 'host_library', 'replace_sync_bn')))
