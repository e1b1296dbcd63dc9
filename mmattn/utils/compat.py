"""Compatibility fixes for the dependency set mmattn runs on (PyTorch >= 2.6, NumPy 2).

Importing :mod:`mmattn` installs them; nothing in site-packages is edited.

1. ``torch.load`` defaults to ``weights_only=True`` since PyTorch 2.6, and mmengine 0.10.7 calls
   it without the argument. Its own checkpoints hold a ``HistoryBuffer`` and NumPy arrays in the
   message hub, so ``--resume`` and ``load_from`` fail with "Weights only load failed". We keep
   the safe loader and allowlist exactly the types mmengine writes (:data:`SAFE_GLOBALS`).
   ``HistoryBuffer.__getstate__`` also pickles its class-level table of statistics methods,
   i.e. ``getattr(HistoryBuffer, 'min')`` calls that no safe loader may run; the table is
   rebuilt at construction and by ``register_statistics`` at import time, so checkpoints
   written after importing mmattn leave it out. Checkpoints written by plain mmengine still
   contain it: they load with ``MMATTN_TRUST_CHECKPOINTS=1`` (see below).
   Local files are read through :func:`load_local_checkpoint`, which says which object blocked
   a file and how to proceed instead of PyTorch's generic message. A file that really needs
   arbitrary unpickling loads only with ``MMATTN_TRUST_CHECKPOINTS=1`` in the environment
   (do that only for files from a trusted source).
2. mmcv 2.1's CPU kernels of ``nms`` and ``roi_align`` have no bf16 version, so detectors fail
   under CPU bf16 autocast (``--amp`` without CUDA) with "expected scalar type Float but found
   BFloat16". Under CPU autocast those two ops now get fp32 inputs (boxes and RoI features are
   few; the convolutions around them still run in bf16). ``batched_nms`` is wrapped the same
   way: it shifts each class's (or RPN level's) boxes by ``class * (max coordinate + 1)``
   before ``nms``, and in bf16 those shifted coordinates round to steps of 4-32 pixels, which
   changes which boxes survive. Callers that imported it by name before mmattn was imported
   (``from mmcv.ops import batched_nms`` in mmdet) are pointed at the wrapper too. Nothing
   changes outside autocast or on CUDA.
3. mmengine, mmcv and mmseg import ``pkg_resources``, which setuptools >= 81 reports as
   deprecated on every config load (``mmdet::`` / ``mmseg::`` inheritance): a warning about
   their packaging that a user can do nothing about. That one message is silenced; every other
   warning, our own included, stays on.
"""
import functools
import importlib
import os
import os.path as osp
import pickle
import re
import sys
import warnings
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = ['SAFE_GLOBALS', 'TRUST_ENV', 'load_local_checkpoint']

TRUST_ENV = 'MMATTN_TRUST_CHECKPOINTS'

warnings.filterwarnings('ignore', message='pkg_resources is deprecated as an API',
                        category=UserWarning)


def _numpy_globals() -> List[Any]:
    # What pickled ndarrays / NumPy scalars reference: the reconstructor, the array and dtype
    # classes, and (NumPy >= 1.25) one dtype class per scalar type.
    core = getattr(np, '_core', None) or np.core
    found = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    found += sorted({type(np.dtype(t)) for t in np.sctypeDict.values()}, key=str)
    return found


SAFE_GLOBALS: List[Any] = [HistoryBuffer] + _numpy_globals()
torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _history_buffer_state(self: HistoryBuffer) -> dict:
    state = self.__dict__.copy()
    state.pop('statistics_methods', None)  # class-level; see the module docstring
    return state


HistoryBuffer.__getstate__ = _history_buffer_state


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """Load a local checkpoint with ``weights_only=True`` (mmengine's ``CheckpointLoader`` hook).

    Raises:
        FileNotFoundError: The file does not exist.
        RuntimeError: The file holds objects outside :data:`SAFE_GLOBALS`; the message names
            the first one and the two ways forward.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if os.environ.get(TRUST_ENV) == '1':
            warnings.warn(f'{filename}: loading with weights_only=False because {TRUST_ENV}=1.')
            return torch.load(filename, map_location=map_location, weights_only=False)
        match = re.search(r'GLOBAL (\S+) was not an allowed global', str(err))
        blocker = match.group(1) if match else str(err).splitlines()[-1][:200]
        raise RuntimeError(
            f'{filename} cannot be loaded safely (torch.load weights_only=True): it contains '
            f'{blocker}. If the file comes from a trusted source, set {TRUST_ENV}=1 to load it '
            'with weights_only=False, or save its state_dict alone with '
            "torch.save({'state_dict': ckpt['state_dict']}, path).") from err


# '' is the scheme of plain local paths in mmengine's CheckpointLoader.
CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


def _cast_floats(out, dtype):
    if torch.is_tensor(out):
        return out.to(dtype) if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_cast_floats(o, dtype) for o in out)
    return out


def _fp32_under_cpu_autocast(op):

    @functools.wraps(op)
    def wrapper(*args, **kwargs):
        if not torch.is_autocast_enabled('cpu') or not torch.is_tensor(args[0]):
            return op(*args, **kwargs)
        dtype = args[0].dtype
        args = tuple(
            a.float() if torch.is_tensor(a) and a.dtype in (torch.bfloat16, torch.float16)
            and a.device.type == 'cpu' else a for a in args)
        with torch.autocast('cpu', enabled=False):
            out = op(*args, **kwargs)
        # back to the caller's dtype: mmdet writes RoI features into buffers of that dtype
        return _cast_floats(out, dtype)

    wrapper._mmattn_fp32 = True  # idempotence marker (mmcv's own decorators set __wrapped__)
    return wrapper


def _patch_mmcv_ops() -> None:
    # importlib, not `import mmcv.ops.nms as m`: the package attribute `mmcv.ops.nms` is the
    # function, which shadows the submodule of the same name.
    nms_module = importlib.import_module('mmcv.ops.nms')
    roi_align_module = importlib.import_module('mmcv.ops.roi_align')

    # batched_nms and RoIAlign.forward look these names up in their module at call time.
    for module, name in ((nms_module, 'nms'), (roi_align_module, 'roi_align')):
        op = getattr(module, name)
        if not getattr(op, '_mmattn_fp32', False):
            setattr(module, name, _fp32_under_cpu_autocast(op))
    # batched_nms is imported by name (`from mmcv.ops import batched_nms`): replace every
    # OpenMMLab module's reference that is already bound; later imports read the patched one.
    original = nms_module.batched_nms
    if not getattr(original, '_mmattn_fp32', False):
        patched = _fp32_under_cpu_autocast(original)
        for name, module in list(sys.modules.items()):
            if name.split('.')[0] in ('mmcv', 'mmdet', 'mmseg') and module is not None:
                for attr, value in list(vars(module).items()):
                    if value is original:
                        setattr(module, attr, patched)


_patch_mmcv_ops()
