"""mmattn: Lambda layers, External Attention, X-volution and LeViT for OpenMMLab 2.x.

Importing the package registers its models in the ``mmattn`` scope (and their plain names in
mmengine's root registry) and installs the compatibility fixes of :mod:`mmattn.utils.compat`.
"""
from .utils import compat as _compat  # noqa: F401  (must run before any checkpoint is loaded)
from . import models  # noqa: F401  (registers the models)
from .version import __version__

__all__ = ['__version__']
