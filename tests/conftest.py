"""Shared fixtures: one synthetic data root per test session (written once, read by all)."""
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # configs' custom_imports and the tools import mmattn from the repo
    sys.path.insert(0, REPO)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """Folder with the small COCO / ADE20K / Cityscapes sets used by smoke runs."""
    from mmattn.utils.smoke import make_synthetic_data
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_data(root)
    return root


def randomise_levit_statistics(model, seed: int = 0):
    """Random BN statistics / affines and attention-bias tables for a LeViT (ours or timm's).

    Both initialise the residual BNs and the bias tables to zero, which would leave branches
    inactive and make an output comparison prove little.
    """
    import itertools

    import torch
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
