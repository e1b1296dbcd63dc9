"""Reading and writing the checkpoint files the converters work on (plain PyTorch)."""
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

import torch

__all__ = ['load_state_dict', 'mismatched_keys', 'save_state_dict', 'strip_prefix']

# Containers a state dict is found in: mmengine / mmpretrain ('state_dict'), the official LeViT
# and DeiT code ('model'), the official EANet code ('net'), wrapped models ('module').
_WRAPPERS = ('state_dict', 'model', 'net', 'module')


def load_state_dict(path: str, trust: bool = False) -> Dict[str, torch.Tensor]:
    """Read a ``.pth`` / ``.pt`` / ``.safetensors`` file and unwrap its state dict.

    Args:
        path (str): checkpoint file.
        trust (bool): unpickle objects besides tensors (only for files from a trusted source).
            Default: False (``torch.load(weights_only=True)``).

    Raises:
        RuntimeError: the file holds more than tensors and ``trust`` is False.
    """
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return dict(load_file(path))
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=not trust)
    except Exception as err:  # pickled objects besides tensors (mmengine meta, argparse ...)
        if trust:
            raise
        raise RuntimeError(f'{path} holds more than tensors and cannot be read with '
                           'weights_only=True; pass --trust-checkpoint if you trust its source '
                           f'({err})') from err
    for wrapper in _WRAPPERS:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
    return dict(checkpoint)


def strip_prefix(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """The state dict with ``prefix`` removed from every key that starts with it."""
    return {key[len(prefix):] if key.startswith(prefix) else key: value
            for key, value in state_dict.items()}


def save_state_dict(state_dict: Dict[str, torch.Tensor], path: str,
                    meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}``, what mmengine's ``load_checkpoint`` reads."""
    torch.save({'state_dict': OrderedDict(state_dict), 'meta': dict(meta or {})}, path)


def mismatched_keys(state: Dict[str, torch.Tensor], own: Dict[str, torch.Tensor],
                    may_miss: Callable[[str], bool] = lambda key: False,
                    may_add: Callable[[str], bool] = lambda key: False) -> List[str]:
    """Every way a checkpoint's ``state`` does not fit a model's ``own`` state dict, key by key.

    Args:
        state (dict): the checkpoint's tensors, keys as in the model.
        own (dict): the model's ``state_dict()``.
        may_miss (callable): True for a model key the checkpoint need not hold.
        may_add (callable): True for a checkpoint key the model need not have.

    Returns:
        list[str]: one entry per kind of problem, e.g. ``'missing in the checkpoint (2): a, b'``,
        ``'unexpected in the checkpoint (1): c'``, ``'shape mismatch (1): d: checkpoint (3,)
        vs model (4,)'``; empty when every key fits.
    """
    missing = [key for key in own if key not in state and not may_miss(key)]
    unexpected = [key for key in state if key not in own and not may_add(key)]
    shapes = [f'{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(own[key].shape)}'
              for key in state if key in own and state[key].shape != own[key].shape]
    return [f'{label} ({len(keys)}): {", ".join(keys)}'
            for label, keys in (('missing in the checkpoint', missing),
                                ('unexpected in the checkpoint', unexpected),
                                ('shape mismatch', shapes)) if keys]
