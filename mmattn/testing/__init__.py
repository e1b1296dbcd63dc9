"""Helpers shared by the test suite and the benchmarks (plain PyTorch; never used by models).

* :func:`randomise_levit_statistics`: non-trivial BN statistics / affines and bias tables, so
  that comparing two LeViTs (ours, timm's, a converted one) proves something;
* :func:`import_timm`: timm, the LeViT oracle, behind a stand-in for torchvision (whose CUDA
  build from the registry does not import on CPU torch; mmattn itself never needs it).
"""
import itertools

import torch
from torch import nn

from . import torchvision_stub

__all__ = ['import_timm', 'randomise_levit_statistics']


def randomise_levit_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics / affines and attention-bias tables for a LeViT (ours or timm's).

    Both initialise the residual BNs and the bias tables to zero, which would leave branches
    inactive and make an output comparison prove little. Returns ``model``.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
            if key.endswith(('running_var', 'bn.weight')):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif key.endswith(('running_mean', 'bn.bias')):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            elif key.endswith('attention_biases'):
                tensor.copy_(torch.randn(tensor.shape, generator=gen))
    return model


def import_timm():
    """``import timm`` with the torchvision stand-in installed (a real torchvision is kept)."""
    torchvision_stub.install()
    import timm
    return timm
