"""``init_cfg=dict(type='StrictPretrained', checkpoint=..., prefix='backbone.')``.

mmengine's ``Pretrained`` init loads what fits and only logs the rest, which is right for an
ImageNet ResNet going into a modified backbone (the new layers have no weights yet) and wrong for
the hand-off from stage 1 (an ImageNet run of the *same* backbone, e.g.
``configs/lambda_resnet50_8xb32_in1k.py``) to stage 2 (its detection config): there every
backbone tensor, the lambda or X-volution layers included, must come from the checkpoint, and a
key that is missing, unexpected or of another shape means the two configs do not describe the
same network. ``StrictPretrained`` loads such a checkpoint or stops, naming each of those keys.

A checkpoint as mmpretrain writes it is read as it is: its ``state_dict`` (``backbone.*``,
``neck.*``, ``head.*``; with an EMA hook, mmengine stores the averaged weights there and the raw
ones under ``ema_state_dict``), of which ``prefix`` selects the backbone.
"""
import logging
from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from .converters.checkpoint import mismatched_keys

__all__ = ['StrictPretrainedInit', 'load_pretrained_strict']


def load_pretrained_strict(module: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                           map_location: str = 'cpu') -> Dict[str, torch.Tensor]:
    """Load every tensor of ``module`` from ``checkpoint`` (its keys under ``prefix``).

    Returns:
        dict: the state dict that was loaded (keys without ``prefix``).

    Raises:
        RuntimeError: no key starts with ``prefix``, or a key of ``module`` is missing in the
            checkpoint, a checkpoint key (under ``prefix``) has no place in ``module``, or a
            shape differs; the message lists every such key.
    """
    loaded = _load_checkpoint(checkpoint, map_location=map_location, logger='current')
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
    state = {key[len('module.'):] if key.startswith('module.') else key: value
             for key, value in state.items()}
    owner = type(module).__name__
    if prefix:
        if not any(key.startswith(prefix) for key in state):
            raise RuntimeError(f'StrictPretrained: no key of {checkpoint} starts with prefix '
                               f'{prefix!r} (first keys: {sorted(state)[:5]}); give the prefix '
                               f"of the part to load, e.g. prefix='backbone.'")
        state = {key[len(prefix):]: value for key, value in state.items()
                 if key.startswith(prefix)}
    problems = mismatched_keys(state, module.state_dict())
    if problems:
        raise RuntimeError(f'StrictPretrained: {checkpoint} (prefix {prefix!r}) does not fit '
                           f'{owner}: {"; ".join(problems)}. The checkpoint must come from a '
                           'config with the same backbone (stage 1 of this config)')
    module.load_state_dict(state, strict=True)
    print_log(f'StrictPretrained: {owner} loaded all {len(state)} tensors from {checkpoint} '
              f'(prefix {prefix!r})', logger='current', level=logging.INFO)
    return state


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit:
    """The ``StrictPretrained`` init type: :func:`load_pretrained_strict` as an mmengine init.

    Args:
        checkpoint (str): checkpoint file (or anything mmengine's loaders read).
        prefix (str, optional): the part of the checkpoint to load, e.g. ``'backbone.'`` for
            a classifier or detector checkpoint. Default: None (every key).
        map_location (str): Default: ``'cpu'``.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 map_location: str = 'cpu') -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        load_pretrained_strict(module, self.checkpoint, self.prefix, self.map_location)

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: every tensor from {self.checkpoint}'
