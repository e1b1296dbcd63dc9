"""X-volution through the dcn hook of mmdet's and mmseg's ResNet: placement, checkpoints, deploy."""
import copy
import logging

import pytest
import torch
from mmdet.models.backbones import ResNet
from mmengine.runner import load_checkpoint
from mmseg.models.backbones import ResNetV1c
from torch import nn

import mmattn  # noqa: F401  (registers XVolution)
from mmattn.layers import XVolution
from mmattn.models.plugins import XVolution as RegisteredXVolution
from mmattn.layers import switch_to_deploy
from messages import names

STAGE_3 = (False, False, True, False)


def _detection_resnet(dcn=None, seed=0, **kwargs) -> ResNet:
    torch.manual_seed(seed)
    if dcn is not None:
        kwargs.update(dcn=dcn, stage_with_dcn=STAGE_3)
    return ResNet(depth=50, norm_eval=False, **kwargs)


def _xvolution_cfg(**kwargs) -> dict:
    return dict(dict(type='mmattn.XVolution', attention='pssa', conv_norm=False), **kwargs)


def _input(size=(1, 3, 64, 48)) -> torch.Tensor:
    return torch.randn(size, generator=torch.Generator().manual_seed(1))


def _randomise_attention_norms(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, XVolution):
                norm = module.attention_norm
                norm.weight.copy_(torch.rand(norm.weight.shape, generator=generator) + 0.5)
                norm.bias.copy_(torch.randn(norm.bias.shape, generator=generator))
                norm.running_mean.copy_(torch.randn(norm.running_mean.shape,
                                                    generator=generator))
                norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator)
                                       + 0.5)


@pytest.mark.parametrize('type_name', ['mmattn.XVolution', 'XVolution'])
def test_dcn_hook_replaces_every_stage_3_conv2_including_the_strided_first_block(type_name):
    model = _detection_resnet(dcn=dict(type=type_name, attention='sa'))
    layers = [model.layer1, model.layer2, model.layer3, model.layer4]
    for index, layer in enumerate(layers):
        kinds = {type(block.conv2) for block in layer}
        # the registered 'XVolution' is the operator with its norms given as an mmcv norm_cfg
        assert kinds == ({RegisteredXVolution} if index == 2 else {nn.Conv2d})
        assert index != 2 or all(isinstance(block.conv2, XVolution) for block in layer)
    assert [block.conv2.stride for block in model.layer3] == [2] + [1] * 5
    assert all(block.conv2.attention == 'sa' for block in model.layer3)


@pytest.mark.slow
def test_xvolution_resnet_gives_the_plain_resnet_feature_shapes():
    plain, xvolution = _detection_resnet(), _detection_resnet(dcn=_xvolution_cfg())
    x = _input((1, 3, 67, 45))  # odd sizes: the strided block must match the conv grid
    plain.eval(), xvolution.eval()  # mmdet's ResNet.train() returns None: no chaining
    with torch.no_grad():
        expected = [f.shape for f in plain(x)]
        actual = [f.shape for f in xvolution(x)]
    assert actual == expected


def test_segmentation_resnet_v1c_d8_builds_dilated_xvolution_with_shift_two():
    torch.manual_seed(0)
    model = ResNetV1c(depth=50, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                      dcn=_xvolution_cfg(), stage_with_dcn=STAGE_3)
    convs = [block.conv2 for block in model.layer3]
    assert all(isinstance(c, XVolution) and c.dilation == 2 and c.shifts == (2, ) for c in convs)
    model.eval()
    with torch.no_grad():
        outs = model(_input((1, 3, 33, 41)))
    assert outs[2].shape[-2:] == outs[1].shape[-2:]  # output stride 8 kept


@pytest.fixture(scope='module')
def plain_checkpoint(tmp_path_factory) -> tuple:
    """An 'ImageNet' ResNet-50 checkpoint file (a plain mmdet ResNet with random weights)."""
    plain = _detection_resnet(seed=7)
    _randomise_all_norms(plain)
    path = tmp_path_factory.mktemp('checkpoints') / 'resnet50.pth'
    torch.save(dict(state_dict=plain.state_dict()), path)
    return plain, path


def _randomise_all_norms(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for norm in model.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.running_mean.copy_(torch.randn(norm.running_mean.shape,
                                                    generator=generator) * 0.1)
                norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator)
                                       + 0.5)


def test_imagenet_resnet_checkpoint_loads_into_the_conv_branches_and_keeps_bn2(plain_checkpoint):
    plain, path = plain_checkpoint
    model = _detection_resnet(dcn=_xvolution_cfg(), seed=1)
    load_checkpoint(model, str(path), strict=False, logger='silent')
    for plain_block, block in zip(plain.layer3, model.layer3):
        assert torch.equal(block.conv2.conv.weight, plain_block.conv2.weight)
        assert torch.equal(block.bn2.running_var, plain_block.bn2.running_var)
        assert torch.equal(block.bn2.weight, plain_block.bn2.weight)
    assert torch.equal(model.layer2[0].conv2.weight, plain.layer2[0].conv2.weight)


def test_new_attention_weights_are_reported_as_missing_and_nothing_else(plain_checkpoint, caplog):
    plain, path = plain_checkpoint
    model = _detection_resnet(dcn=_xvolution_cfg(), seed=1)
    state = torch.load(path)['state_dict']
    with caplog.at_level(logging.INFO, logger='mmattn.layers.xvolution'):
        result = model.load_state_dict(copy.copy(state), strict=False)
    missing = sorted(result.missing_keys)
    expected = sorted(f'layer3.{i}.conv2.{name}' for i in range(6)
                      for name in ('offset_weight', 'project.weight', 'attention_norm.weight',
                                   'attention_norm.bias', 'attention_norm.running_mean',
                                   'attention_norm.running_var'))
    assert missing == expected
    assert result.unexpected_keys == []
    assert 'layer3.0.conv2: loaded a plain conv weight into the conv branch' in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize('attention', ['sa', 'pssa'])
def test_zero_initialised_attention_reproduces_the_pretrained_resnet(plain_checkpoint, attention):
    plain, path = plain_checkpoint
    model = _detection_resnet(dcn=_xvolution_cfg(zero_init_attention=True, attention=attention),
                              seed=1)
    load_checkpoint(model, str(path), strict=False, logger='silent')
    x = _input()
    plain.train(), model.train()
    with torch.no_grad():
        for expected, actual in zip(plain(x), model(x)):
            torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize('attention', ['sa', 'pssa'])
def test_model_level_switch_to_deploy_keeps_the_backbone_outputs(attention):
    model = _detection_resnet(dcn=_xvolution_cfg(attention=attention, stride_mode='subsample'))
    _randomise_attention_norms(model)
    x = _input((1, 3, 61, 47))
    model.eval()
    with torch.no_grad():
        expected = model(x)
        switch_to_deploy(model)
        actual = model(x)
    assert all(block.conv2.deploy for block in model.layer3)
    assert not any(isinstance(m, nn.BatchNorm2d) for block in model.layer3
                   for m in block.conv2.modules())
    for e, a in zip(expected, actual):
        assert (a - e).abs().max() <= 1e-5 * e.abs().max()


def test_attention_parameters_train_through_the_backbone():
    model = _detection_resnet(dcn=_xvolution_cfg())
    model.train()
    sum(f.mean() for f in model(_input((2, 3, 64, 64)))).backward()
    block = model.layer3[0].conv2
    for name in ('offset_weight', 'project.weight', 'attention_norm.weight'):
        grad = block.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize('conv_norm', [True, False])
def test_norm_cfg_options_reach_the_branch_norms_of_the_registered_adapter(conv_norm):
    module = RegisteredXVolution(8, 8, 3, 1, 1, conv_norm=conv_norm,
                                 norm_cfg=dict(type='BN', eps=0.1, momentum=0.3))
    norms = [module.attention_norm] + ([module.conv_norm] if conv_norm else [])
    assert conv_norm or module.conv_norm is None
    for norm in norms:
        assert type(norm) is nn.BatchNorm2d
        assert (norm.eps, norm.momentum) == (0.1, 0.3)


def test_sync_bn_norm_cfg_makes_both_branch_norms_sync_bn():
    module = RegisteredXVolution(8, 8, 3, 1, 1, norm_cfg=dict(type='SyncBN', eps=0.01))
    for norm in (module.conv_norm, module.attention_norm):
        assert isinstance(norm, nn.SyncBatchNorm) and norm.eps == 0.01


def test_norm_cfg_in_the_dcn_config_reaches_every_stage_3_xvolution():
    model = _detection_resnet(dcn=_xvolution_cfg(norm_cfg=dict(type='BN', eps=0.1, momentum=0.3)))
    norms = [block.conv2.attention_norm for block in model.layer3]
    assert len(norms) == 6
    assert {(norm.eps, norm.momentum) for norm in norms} == {(0.1, 0.3)}


def test_registered_adapter_refuses_norm_cfg_none_naming_the_fix():
    with pytest.raises(ValueError, match=names('norm_cfg', 'None')):
        RegisteredXVolution(8, 8, 3, 1, 1, norm_cfg=None)
