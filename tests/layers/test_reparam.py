"""One deploy contract for every re-parameterisable operator (mmpretrain's).

``deploy=True`` builds the form ``switch_to_deploy()`` gives (same state-dict keys and shapes),
so a converted checkpoint loads strictly into it and computes the same function;
``switch_to_deploy()`` refuses training mode, is idempotent and leaves ``deploy`` True.
"""
import functools

import pytest
import torch
from torch import nn

from mmattn.layers import (ConvBN, ExternalAttention, LeViTBlock, LeViTShrinkBlock, LeViTStem,
                           LinearBN, MultiHeadExternalAttention, Reparameterizable, XVolution,
                           bn_scale_shift, foldable_norm, switch_to_deploy)
from mmattn.layers.reparam import fuse_conv_bn, fuse_linear_bn
from messages import names

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)


def _randomise_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affines (zero-initialised ones would hide fold errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in module.modules():
            if isinstance(norm, BATCH_NORMS):
                norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=gen))
                norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=gen) + 0.5)
                norm.weight.copy_(torch.rand(norm.weight.shape, generator=gen) + 0.5)
                norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen))
        for name, param in module.named_parameters():
            if name.endswith('attention_biases'):
                param.copy_(torch.randn(param.shape, generator=gen))
    return module


def _call(module, x):
    return module(*x) if isinstance(x, tuple) else module(x)


def _first_tensor(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


# (name, factory taking deploy=..., input)
CASES = [
    ('ExternalAttention', functools.partial(ExternalAttention, 8, num_memory=5),
     torch.randn(2, 8, 5, 4)),
    ('MultiHeadExternalAttention', functools.partial(MultiHeadExternalAttention, 8, 2, 5),
     torch.randn(2, 8, 3, 6)),
    ('XVolution pssa', functools.partial(XVolution, 6, 8), torch.randn(2, 6, 7, 5)),
    ('XVolution pssa stride 2', functools.partial(XVolution, 6, 8, stride=2),
     torch.randn(2, 6, 7, 5)),
    ('XVolution pssa softmax', functools.partial(XVolution, 6, 8, normalize='softmax'),
     torch.randn(2, 6, 7, 5)),
    ('XVolution sa', functools.partial(XVolution, 6, 8, attention='sa'), torch.randn(2, 6, 4, 5)),
    ('ConvBN', functools.partial(ConvBN, 3, 4, 3, 2, 1), torch.randn(2, 3, 9, 7)),
    ('LinearBN', functools.partial(LinearBN, 6, 5), torch.randn(2, 7, 6)),
    ('LeViTStem', functools.partial(LeViTStem, 3, 16), torch.randn(1, 3, 40, 24)),
    ('LeViTBlock', functools.partial(LeViTBlock, 16, 4, 2), (torch.randn(2, 12, 16), (3, 4))),
    ('LeViTShrinkBlock', functools.partial(LeViTShrinkBlock, 16, 24, 4),
     (torch.randn(2, 12, 16), (3, 4))),
]
IDS = [case[0] for case in CASES]


def _trained(factory):
    torch.manual_seed(0)
    return _randomise_norms(factory()).eval()


@pytest.mark.parametrize('name,factory,x', CASES, ids=IDS)
def test_deploy_argument_builds_the_form_switch_to_deploy_gives(name, factory, x):
    converted = _trained(factory)
    with torch.no_grad():
        expected = _first_tensor(_call(converted, x))
    switch_to_deploy(converted)
    built = factory(deploy=True).eval()
    state = converted.state_dict()
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape
                                                                   for k, v in state.items()}
    built.load_state_dict(state, strict=True)
    with torch.no_grad():
        got = _first_tensor(_call(built, x))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, BATCH_NORMS) for m in built.modules()
                   if foldable_norm(m)), 'a foldable BatchNorm is left in the deploy form'


@pytest.mark.parametrize('name,factory,x', CASES, ids=IDS)
def test_switch_to_deploy_refuses_training_mode_and_changes_nothing(name, factory, x):
    module = _trained(factory).train()
    keys = list(module.state_dict())
    outer = [m for m in module.modules() if isinstance(m, Reparameterizable)]
    with pytest.raises(RuntimeError, match=names('eval')):
        for part in outer:  # every re-parameterisable part refuses, not only the outer one
            part.switch_to_deploy()
    assert list(module.state_dict()) == keys and not any(m.deploy for m in outer)


@pytest.mark.parametrize('name,factory,x', CASES, ids=IDS)
def test_switch_to_deploy_is_idempotent(name, factory, x):
    module = _trained(factory)
    switch_to_deploy(module)  # composite blocks convert through their Linear/Conv+BN pairs
    state = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        once = _first_tensor(_call(module, x))
    switch_to_deploy(module)
    parts = [m for m in module.modules() if isinstance(m, Reparameterizable)]
    assert parts and all(m.deploy is True for m in parts)
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in state.items())
    with torch.no_grad():
        torch.testing.assert_close(_first_tensor(_call(module, x)), once, rtol=0, atol=0)


def test_deploy_form_keeps_a_norm_that_cannot_fold():
    group_norm = functools.partial(nn.GroupNorm, 2)
    converted = _trained(functools.partial(ExternalAttention, 8, norm_layer=group_norm))
    converted.switch_to_deploy()
    built = ExternalAttention(8, norm_layer=group_norm, deploy=True)
    assert isinstance(converted.out_norm, nn.GroupNorm) and isinstance(built.out_norm,
                                                                      nn.GroupNorm)
    built.load_state_dict(converted.state_dict(), strict=True)


def test_a_module_without_a_foldable_norm_refuses_before_changing_anything():
    module = XVolution(4, 4, norm_layer=functools.partial(nn.GroupNorm, 2)).eval()
    keys = list(module.state_dict())
    with pytest.raises(TypeError, match=names('GroupNorm')):
        module.switch_to_deploy()
    assert list(module.state_dict()) == keys and module.deploy is False


def test_switch_to_deploy_of_a_model_converts_each_module_once():
    model = nn.Sequential(_trained(functools.partial(ConvBN, 3, 4, 3, 1, 1)), nn.ReLU(),
                          _trained(functools.partial(ExternalAttention, 4, num_memory=3)))
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        expected = model.eval()(x)
        switch_to_deploy(model)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
    assert model[0].deploy and model[2].deploy
    with pytest.raises(RuntimeError, match=names('eval')):
        switch_to_deploy(model.train())


def test_bn_scale_shift_is_the_eval_mode_batch_norm():
    bn = _randomise_norms(nn.BatchNorm2d(3)).eval()
    x = torch.randn(2, 3, 4, 4)
    scale, shift = bn_scale_shift(bn)
    torch.testing.assert_close(x * scale[:, None, None] + shift[:, None, None], bn(x))


@pytest.mark.parametrize('padding_mode', ['zeros', 'reflect', 'circular'])
def test_fuse_conv_bn_equals_the_conv_then_the_eval_batch_norm(padding_mode):
    # a conv with a bias, stride, dilation, groups and a non-zero padding mode: every one of
    # them must survive the fold
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=True,
                     padding_mode=padding_mode)
    bn = _randomise_norms(nn.BatchNorm2d(6)).eval()
    x = torch.randn(2, 4, 9, 8)
    state = {k: v.clone() for k, v in [*conv.state_dict().items(), *bn.state_dict().items()]}
    fused = fuse_conv_bn(conv, bn)
    assert fused is not conv and fused.padding_mode == padding_mode
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
    # the inputs are left untouched
    after = {k: v for k, v in [*conv.state_dict().items(), *bn.state_dict().items()]}
    assert all(torch.equal(v, after[k]) for k, v in state.items())


@pytest.mark.parametrize('bias', [True, False])
def test_fuse_linear_bn_equals_the_linear_then_the_eval_batch_norm(bias):
    torch.manual_seed(0)
    linear = nn.Linear(5, 7, bias=bias)
    bn = _randomise_norms(nn.BatchNorm1d(7)).eval()
    x = torch.randn(3, 5)
    fused = fuse_linear_bn(linear, bn)
    assert fused is not linear and fused.bias is not None
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(linear(x)), rtol=1e-5, atol=1e-5)


class _Scaled(Reparameterizable):
    """A minimal operator of the contract; it leaves ``deploy`` to the base class."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.conversions = 0

    def forward(self, x):
        return x * self.scale

    def _convert_to_deploy(self):
        self.conversions += 1


def test_a_new_operator_starts_in_its_training_form_and_converts_once():
    module = _Scaled()
    assert module.deploy is False
    module.eval().switch_to_deploy()
    module.switch_to_deploy()
    assert module.deploy is True and module.conversions == 1


def test_an_operator_without_a_conversion_refuses_to_switch():
    module = Reparameterizable().eval()
    with pytest.raises(NotImplementedError):
        module.switch_to_deploy()
    assert module.deploy is False


def test_switch_to_deploy_of_a_model_returns_the_model():
    container = nn.Sequential(_Scaled(), nn.ReLU()).eval()
    assert switch_to_deploy(container) is container and container[0].deploy
    operator = _Scaled().eval()
    assert switch_to_deploy(operator) is operator and operator.deploy
