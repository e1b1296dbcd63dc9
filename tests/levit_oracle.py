"""Helpers shared by the LeViT tests and ``bench/levit.py`` (never shipped in the package).

* :func:`randomise_levit_statistics`: non-trivial BN statistics / affines and bias tables, so
  that comparing two LeViTs (ours, timm's, a converted one) proves something;
* :func:`timm_behind_standin`: timm, the LeViT oracle, imported behind the torchvision stand-in
  of ``torchvision_stub.py`` (the registry's torchvision is a CUDA build that does not import on
  CPU torch; mmattn itself never needs torchvision). A context manager: the stand-in is removed
  again when the block ends, so it never leaks into tests that do not ask for it.
"""
import contextlib
import itertools

import torch
from torch import nn

import torchvision_stub

__all__ = ['randomise_levit_statistics', 'timm_behind_standin']


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


@contextlib.contextmanager
def timm_behind_standin():
    """``with timm_behind_standin() as timm:`` (a working real torchvision is kept)."""
    with torchvision_stub.installed():
        import timm
        yield timm
