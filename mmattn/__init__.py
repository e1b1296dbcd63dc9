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
import warnings

from . import layers
from .version import __version__

__all__ = ['OPENMMLAB_AVAILABLE', '__version__', 'layers']

_OPENMMLAB = ('mmengine', 'mmcv', 'mmdet', 'mmseg')

_MISSING = [name for name in _OPENMMLAB if importlib.util.find_spec(name) is None]
#: Whether the OpenMMLab adapters were imported and registered (all of mmengine, mmcv, mmdet and
#: mmseg are installed). Without them, :mod:`mmattn.layers` is the whole package.
OPENMMLAB_AVAILABLE = not _MISSING

if _MISSING and len(_MISSING) < len(_OPENMMLAB):  # a partial install: say what is missing
    warnings.warn(f'mmattn: the OpenMMLab adapters are not registered: {", ".join(_MISSING)} '
                  f'missing (they need all of {", ".join(_OPENMMLAB)}; tools/install.sh installs '
                  'them). mmattn.layers works with torch alone.', stacklevel=2)
if OPENMMLAB_AVAILABLE:
    from .utils import compat as _compat  # noqa: F401  (before any checkpoint is loaded)
    from . import engine, models  # noqa: F401  (registration)
