"""``init_cfg=dict(type='StrictPretrained', ...)``: a stage-1 checkpoint loads whole or not at all.

Small backbones (mmdet's ResNet-50 with X-volution in stage 3, a LambdaResNet-50) and
checkpoints written the way mmpretrain writes them (``state_dict`` with ``backbone.`` / ``head.``
keys and a ``meta`` entry).
"""
import pytest
import torch
from mmdet.models.backbones import ResNet

import mmattn  # noqa: F401  (registers StrictPretrained, XVolution, LambdaResNet)
from mmattn.models.backbones import LambdaResNet

XVOLUTION = dict(type='mmattn.XVolution', attention='pssa', conv_norm=False)


def _xvolution_resnet(seed: int, **kwargs) -> ResNet:
    torch.manual_seed(seed)
    return ResNet(depth=50, norm_eval=False, dcn=XVOLUTION,
                  stage_with_dcn=(False, False, True, False), **kwargs)


def _classifier_checkpoint(path, backbone_state: dict) -> str:
    state = {f'backbone.{key}': value for key, value in backbone_state.items()}
    state.update({'head.fc.weight': torch.randn(1000, 2048), 'head.fc.bias': torch.zeros(1000)})
    torch.save({'state_dict': state, 'meta': {'epoch': 100}}, str(path))
    return str(path)


def test_every_backbone_tensor_comes_from_the_checkpoint(tmp_path):
    source = _xvolution_resnet(seed=0)
    with torch.no_grad():  # distinguishable from any init, BN statistics included
        for tensor in source.state_dict().values():
            if tensor.is_floating_point():
                tensor.uniform_(-1, 1)
    path = _classifier_checkpoint(tmp_path / 'stage1.pth', source.state_dict())
    target = _xvolution_resnet(seed=1, init_cfg=dict(type='StrictPretrained', checkpoint=path,
                                                     prefix='backbone.'))
    target.init_weights()
    expected, loaded = source.state_dict(), target.state_dict()
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[key], expected[key]) for key in expected)


def test_lambda_layers_load_from_a_lambda_resnet_checkpoint_and_keep_no_init_of_their_own(
        tmp_path):
    torch.manual_seed(0)
    source = LambdaResNet(depth=50)
    path = _classifier_checkpoint(tmp_path / 'stage1.pth', source.state_dict())
    torch.manual_seed(1)
    target = LambdaResNet(depth=50, init_cfg=dict(type='StrictPretrained', checkpoint=path,
                                                  prefix='backbone.'))
    target.init_weights()
    expected, loaded = source.state_dict(), target.state_dict()
    lambda_keys = [key for key in expected if key.startswith('layer4.0.conv2.')]
    assert lambda_keys and set(loaded) == set(expected)
    differing = [key for key in expected if not torch.equal(loaded[key], expected[key])]
    assert not differing, differing


def test_missing_unexpected_and_misshaped_keys_are_each_named(tmp_path):
    state = _xvolution_resnet(seed=0).state_dict()
    del state['layer3.0.conv2.attention_norm.weight']
    state['layer3.0.conv2.extra_table'] = torch.zeros(3)
    state['layer1.0.conv1.weight'] = torch.zeros(64, 64, 3, 3)
    path = _classifier_checkpoint(tmp_path / 'broken.pth', state)
    target = _xvolution_resnet(seed=1, init_cfg=dict(type='StrictPretrained', checkpoint=path,
                                                     prefix='backbone.'))
    with pytest.raises(RuntimeError) as error:
        target.init_weights()
    message = str(error.value)
    for key in ('layer3.0.conv2.attention_norm.weight', 'layer3.0.conv2.extra_table',
                'layer1.0.conv1.weight', path):
        assert key in message, f'{key} not named in: {message[:500]}'


def test_a_prefix_that_selects_nothing_is_an_error_naming_it(tmp_path):
    path = _classifier_checkpoint(tmp_path / 'stage1.pth', _xvolution_resnet(seed=0).state_dict())
    target = _xvolution_resnet(seed=1, init_cfg=dict(type='StrictPretrained', checkpoint=path,
                                                     prefix='encoder.'))
    with pytest.raises(RuntimeError, match='encoder'):
        target.init_weights()
