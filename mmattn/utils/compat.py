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
"""
import os
import os.path as osp
import pickle
import re
import warnings
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = ['SAFE_GLOBALS', 'TRUST_ENV', 'load_local_checkpoint']

TRUST_ENV = 'MMATTN_TRUST_CHECKPOINTS'


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
