"""Reading and writing the checkpoint files the converters work on (plain PyTorch)."""
from collections import OrderedDict
from typing import Dict, Optional

import torch

__all__ = ['load_state_dict', 'save_state_dict', 'strip_prefix']

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
