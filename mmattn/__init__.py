"""mmattn: Lambda layers, External Attention, X-volution and LeViT for OpenMMLab 2.x.

Importing the package installs the compatibility fixes of :mod:`mmattn.utils.compat` and
registers mmattn's models (``mmattn`` scope, plain names in mmengine's root registry), its hooks
and optimiser wrappers.
"""
from .utils import compat as _compat  # noqa: F401  (before any checkpoint is loaded)
from . import engine, models  # noqa: F401  (registration)
from .version import __version__

__all__ = ['__version__']
