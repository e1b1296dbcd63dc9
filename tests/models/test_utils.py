"""The one translation of mmcv norm configs into the operators' norm_layer factories."""
import pytest
import torch
from torch import nn

from mmattn.models.utils import norm_layer_from_cfg
from messages import names


@pytest.mark.parametrize('norm_cfg,expected_type', [
    (dict(type='BN'), nn.BatchNorm2d),
    (dict(type='BN2d', momentum=0.01), nn.BatchNorm2d),
    (dict(type='SyncBN'), nn.SyncBatchNorm),
    (dict(type='GN', num_groups=4), nn.GroupNorm),
    (dict(type='IN', affine=True), nn.InstanceNorm2d),
    (None, nn.Identity),
])
def test_mmcv_norm_configs_become_factories_of_the_right_layer(norm_cfg, expected_type):
    layer = norm_layer_from_cfg(norm_cfg)(8)
    assert isinstance(layer, expected_type)
    assert layer(torch.randn(2, 8, 3, 3)).shape == (2, 8, 3, 3)


def test_each_call_builds_a_new_layer():
    factory = norm_layer_from_cfg(dict(type='BN'))
    assert factory(8) is not factory(8)


def test_norm_config_options_reach_the_torch_layer():
    layer = norm_layer_from_cfg(dict(type='BN', momentum=0.01, eps=1e-3, requires_grad=False))(8)
    assert layer.momentum == 0.01 and layer.eps == 1e-3
    assert not any(p.requires_grad for p in layer.parameters())
    assert norm_layer_from_cfg(dict(type='GN', num_groups=2))(8).num_groups == 2


def test_token_norms_use_the_1d_batch_norm():
    assert type(norm_layer_from_cfg(dict(type='BN'), tokens=True)(8)) is nn.BatchNorm1d
    assert isinstance(norm_layer_from_cfg(dict(type='SyncBN'), tokens=True)(8), nn.SyncBatchNorm)


@pytest.mark.parametrize('norm_cfg', [dict(momentum=0.1), 'BN'])
def test_bad_norm_configs_raise_clear_errors(norm_cfg):
    with pytest.raises(TypeError, match=names('norm_cfg', repr(norm_cfg), "'type'")):
        norm_layer_from_cfg(norm_cfg)


def test_an_unknown_norm_type_is_reported_by_mmcv_when_built():
    with pytest.raises(KeyError, match='Foo'):
        norm_layer_from_cfg(dict(type='Foo'))(8)
