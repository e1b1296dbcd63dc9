"""mmattn: Lambda layers, External Attention, X-volution and LeViT for OpenMMLab 2.x.

Two layers, one direction of dependency:

* :mod:`mmattn.layers`: the operators in plain PyTorch. They need torch alone
  (``pip install mmattn``), so ``import mmattn`` works, and gives them, without OpenMMLab.
* :mod:`mmattn.models` (+ engine, apis, utils, datasets): the OpenMMLab adapters. When mmengine,
  mmcv, mmdet and mmseg are installed (``tools/install.sh``), importing mmattn installs the
  compatibility fixes of :mod:`mmattn.utils.compat` and registers mmattn's models (``mmattn``
  scope, plain names in mmengine's root registry), hooks and optimiser wrappers, which is what
  ``custom_imports = dict(imports=['mmattn'])`` relies on.
"""
import importlib.util

from . import layers
from .version import __version__

__all__ = ['OPENMMLAB_AVAILABLE', '__version__', 'layers']

_OPENMMLAB = ('mmengine', 'mmcv', 'mmdet', 'mmseg')

#: Whether the OpenMMLab adapters were imported and registered (all of mmengine, mmcv, mmdet and
#: mmseg are installed). Without them, :mod:`mmattn.layers` is the whole package.
OPENMMLAB_AVAILABLE = all(importlib.util.find_spec(name) is not None for name in _OPENMMLAB)

if OPENMMLAB_AVAILABLE:
    from .utils import compat as _compat  # noqa: F401  (before any checkpoint is loaded)
    from . import engine, models  # noqa: F401  (registration)
