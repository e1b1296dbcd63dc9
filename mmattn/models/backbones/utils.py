"""What the ResNet variants that add new layers to chosen blocks (LambdaResNet, EAResNet) share."""
from typing import Dict, List, Optional, Sequence

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['chosen_blocks', 'train_new_norms']


def chosen_blocks(owner: str, layer_name: str, num_blocks: int,
                  indices: Optional[Sequence[int]]) -> List[int]:
    """Sorted, distinct block indices of a stage; negative ones count from the end.

    ``indices=None`` chooses every block. An index outside the stage is an error naming it and
    ``owner`` (e.g. ``'LambdaResNet: lambda_blocks'``).
    """
    if indices is None:
        return list(range(num_blocks))
    chosen = set()
    for index in indices:
        if not -num_blocks <= index < num_blocks:
            raise ValueError(f'{owner} index {index} is out of range for {layer_name}, '
                             f'which has {num_blocks} blocks')
        chosen.add(index % num_blocks)
    return sorted(chosen)


def train_new_norms(new_layers: Dict[str, nn.Module], stages: Dict[str, int],
                    frozen_stages: int) -> None:
    """Put the BatchNorms of layers new to a pretrained ResNet back in training mode.

    Called after ResNet's ``train()`` has applied ``norm_eval``: a pretrained checkpoint has no
    statistics for new layers, so they learn them, except in stages that ``frozen_stages``
    freezes (``stages`` gives each layer's stage, counted from 1 as ``frozen_stages`` does).
    """
    for name, layer in new_layers.items():
        if stages[name] > frozen_stages:
            for norm in layer.modules():
                if isinstance(norm, _BatchNorm):
                    norm.train()
