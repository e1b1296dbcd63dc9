"""EA for mmdet: the mmcv plugin, EAResNet (EA after the last block of stage 4) and Mask R-CNN."""
import copy

import pytest
import torch
from mmcv.cnn import build_plugin_layer
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS as DET_MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from torch import nn

import mmattn  # noqa: F401  (registers the models)
from mmattn.layers import MultiHeadExternalAttention
from mmattn.models.backbones import EAResNet
from mmattn.models.plugins import ExternalAttentionPlugin
from messages import names

SMALL_RESNET = dict(depth=50, base_channels=4, stem_channels=4, norm_eval=False)


def _pair(**ea_kwargs):
    """An EAResNet and a plain mmdet ResNet holding the same ResNet weights."""
    torch.manual_seed(0)
    ea_net = EAResNet(**SMALL_RESNET, **ea_kwargs)
    plain = ResNet(**SMALL_RESNET)
    missing, unexpected = plain.load_state_dict(ea_net.state_dict(), strict=False)
    assert not missing
    ea_net.eval()
    plain.eval()  # mmdet's ResNet.train() returns None, so no chaining
    return ea_net, plain


def test_plugin_builds_through_mmcv_with_the_hosts_channels():
    name, layer = build_plugin_layer(dict(type='ExternalAttentionPlugin', num_memory=8),
                                     in_channels=16, postfix='_1')
    assert name == 'ea_1' and isinstance(layer, MultiHeadExternalAttention)
    assert layer.channels == 16 and layer.num_memory == 8
    assert isinstance(layer.out_norm, nn.BatchNorm2d)


def test_plugin_output_norm_starts_at_zero_so_it_is_the_identity_on_relu_outputs():
    layer = ExternalAttentionPlugin(8).eval()
    x = torch.rand(2, 8, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), x)


def test_default_places_one_ea_module_after_the_last_block_of_stage_4():
    model = EAResNet(**SMALL_RESNET)
    assert model.ea_names == ['layer4.ea2']  # R50 stage 4 has 3 blocks
    ea_layers = [m for m in model.modules() if isinstance(m, MultiHeadExternalAttention)]
    assert len(ea_layers) == 1 and ea_layers[0].channels == 4 * 8 * 4


def test_forward_equals_plain_resnet_with_ea_applied_to_the_stage_4_output():
    ea_net, plain = _pair()
    ea = ea_net.layer4.ea2
    with torch.no_grad():
        ea.out_norm.weight.fill_(1.0)  # make EA change its input
        x = torch.randn(2, 3, 64, 48)
        ours, reference = ea_net(x), plain(x)
        for stage in range(3):
            torch.testing.assert_close(ours[stage], reference[stage])
        torch.testing.assert_close(ours[3], ea(reference[3]))
        assert not torch.allclose(ours[3], reference[3])


def test_ea_after_inner_blocks_runs_between_those_blocks():
    ea_net, plain = _pair(ea_stages=(False, True, False, False), ea_blocks=(0, -1))
    assert ea_net.ea_names == ['layer2.ea0', 'layer2.ea3']
    with torch.no_grad():
        for module in ea_net.ea_modules().values():
            module.out_norm.weight.fill_(1.0)
        x = torch.randn(1, 3, 32, 32)
        h = plain.maxpool(plain.relu(plain.norm1(plain.conv1(x))))
        h = plain.layer1(h)
        h = ea_net.layer2.ea0(plain.layer2[0](h))
        for block in list(plain.layer2)[1:]:
            h = block(h)
        h = ea_net.layer2.ea3(h)
        torch.testing.assert_close(ea_net(x)[1], h)


def test_fresh_model_matches_plain_resnet_because_the_ea_norm_starts_at_zero():
    ea_net, plain = _pair()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        for ours, reference in zip(ea_net(x), plain(x)):
            torch.testing.assert_close(ours, reference)


def test_imagenet_resnet_checkpoint_loads_with_only_the_ea_keys_missing():
    plain = ResNet(**SMALL_RESNET)
    ea_net = EAResNet(**SMALL_RESNET)
    missing, unexpected = ea_net.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected
    assert missing and all(key.startswith('layer4.ea2.') for key in missing)


def test_init_weights_keeps_the_ea_init_after_resnets_constant_norm_init():
    model = EAResNet(**SMALL_RESNET)
    model.init_weights()  # ResNet's own init sets every BN weight to 1 first
    ea = model.layer4.ea2
    assert ea.out_norm.weight.abs().sum() == 0
    torch.testing.assert_close(ea.memory_values.weight, ea.memory_keys.weight.transpose(0, 1))


def test_norm_eval_freezes_resnet_bns_but_not_the_new_ea_norm():
    model = EAResNet(depth=50, base_channels=4, stem_channels=4, norm_eval=True).train()
    assert not model.layer4[0].norm1.training
    assert model.layer4.ea2.out_norm.training
    frozen = EAResNet(depth=50, base_channels=4, stem_channels=4, norm_eval=True,
                      ea_norm_eval=True).train()
    assert not frozen.layer4.ea2.out_norm.training


def test_ea_options_reach_the_module():
    model = EAResNet(**SMALL_RESNET,
                     ea_cfg=dict(type='ExternalAttentionPlugin', num_memory=16, num_heads=4,
                                 norm_cfg=dict(type='GN', num_groups=8)))
    ea = model.layer4.ea2
    assert (ea.num_memory, ea.num_heads) == (16, 4)
    assert isinstance(ea.out_norm, nn.GroupNorm)


@pytest.mark.parametrize('kwargs,message', [
    (dict(ea_stages=(False, True)), names('ea_stages', (False, True), 4)),
    (dict(ea_blocks=(3,)), names('ea_blocks', 3, 'layer4')),
    (dict(ea_stages=(False,) * 4), names('ea_stages', (False,) * 4)),
])
def test_bad_placements_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EAResNet(**SMALL_RESNET, **kwargs)


def test_mmdet_plugins_hook_can_still_put_ea_in_every_block():
    model = ResNet(**SMALL_RESNET,
                   plugins=[dict(cfg=dict(type='ExternalAttentionPlugin', num_memory=4),
                                 stages=(False, False, False, True), position='after_conv3')])
    ea_layers = [m for m in model.modules() if isinstance(m, ExternalAttentionPlugin)]
    assert len(ea_layers) == 3
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32))[3].shape == (1, 128, 1, 1)


@pytest.mark.slow
def test_mask_rcnn_with_ea_resnet_computes_losses_and_predictions():
    cfg = get_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone = dict(type='mmattn.EAResNet', depth=18, base_channels=8,
                              stem_channels=8, norm_eval=False, init_cfg=None,
                              ea_cfg=dict(type='ExternalAttentionPlugin', num_memory=8))
    model_cfg.neck.in_channels = [8, 16, 32, 64]
    model_cfg.neck.out_channels = 16
    model_cfg.rpn_head.in_channels = 16
    model_cfg.rpn_head.feat_channels = 16
    for head in ('bbox_roi_extractor', 'mask_roi_extractor'):
        model_cfg.roi_head[head].out_channels = 16
    model_cfg.roi_head.bbox_head.update(in_channels=16, fc_out_channels=32, num_classes=3)
    model_cfg.roi_head.mask_head.update(in_channels=16, conv_out_channels=16, num_classes=3)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):  # for the data preprocessor
        model = DET_MODELS.build(model_cfg)
    model.init_weights()
    assert isinstance(model.backbone, EAResNet)
    packed = demo_mm_inputs(2, [(3, 96, 128), (3, 128, 96)], num_classes=3, with_mask=True)
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    total = sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    ea = model.backbone.layer4.ea1  # R18: stage 4 has 2 blocks
    assert ea.out_norm.weight.grad is not None and ea.out_norm.weight.grad.abs().sum() > 0
    model.eval()
    data = model.data_preprocessor(packed, training=False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2 and all('masks' in r.pred_instances for r in results)


def test_frozen_stages_freeze_the_ea_module_of_a_frozen_stage():
    model = EAResNet(**dict(SMALL_RESNET, norm_eval=True), frozen_stages=4).train()
    ea = model.layer4.ea2
    assert not any(p.requires_grad for p in ea.parameters())
    assert not ea.training and not ea.out_norm.training  # kept in eval, statistics frozen
    partly = EAResNet(**dict(SMALL_RESNET, norm_eval=True), frozen_stages=3).train()
    assert all(p.requires_grad for p in partly.layer4.ea2.parameters())
    assert partly.layer4.ea2.out_norm.training  # a new layer in a stage that trains


def test_checkpoints_of_the_old_layout_load_with_a_deprecation_warning():
    source = EAResNet(**SMALL_RESNET)
    with torch.no_grad():
        source.layer4.ea2.memory_keys.weight.normal_()
    old_layout = {key.replace('layer4.ea2.', 'layer4_ea2.'): value
                  for key, value in source.state_dict().items()}
    model = EAResNet(**SMALL_RESNET)
    with pytest.warns(DeprecationWarning, match='layerN_eaK'):
        model.load_state_dict(old_layout, strict=True)
    torch.testing.assert_close(model.layer4.ea2.memory_keys.weight,
                               source.layer4.ea2.memory_keys.weight)


def test_deploy_argument_builds_the_ea_modules_in_their_deploy_form():
    model = EAResNet(**SMALL_RESNET, deploy=True)
    assert model.layer4.ea2.deploy and hasattr(model.layer4.ea2, 'fused_keys')
    assert not EAResNet(**SMALL_RESNET).layer4.ea2.deploy


def test_plugin_defaults_are_the_papers_64_memory_units_and_one_head():
    layer = ExternalAttentionPlugin(8)
    assert (layer.num_memory, layer.num_heads) == (64, 1)
    assert layer.memory_keys.weight.shape[0] == 64


def test_checkpoints_of_the_current_layout_load_without_a_warning():
    import warnings
    source = EAResNet(**SMALL_RESNET)
    model = EAResNet(**SMALL_RESNET)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # any DeprecationWarning fails the test
        model.load_state_dict(source.state_dict(), strict=True)


def test_old_layout_keys_are_renamed_under_the_backbone_prefix_of_a_detector():
    source = EAResNet(**SMALL_RESNET)
    with torch.no_grad():
        source.layer4.ea2.memory_keys.weight.normal_()
    detector = nn.Module()
    detector.backbone = EAResNet(**SMALL_RESNET)
    old_layout = {'backbone.' + key.replace('layer4.ea2.', 'layer4_ea2.'): value
                  for key, value in source.state_dict().items()}
    with pytest.warns(DeprecationWarning, match='backbone.layerN_eaK'):
        detector.load_state_dict(old_layout, strict=True)
    torch.testing.assert_close(detector.backbone.layer4.ea2.memory_keys.weight,
                               source.layer4.ea2.memory_keys.weight)


def test_an_unknown_top_level_key_of_a_checkpoint_is_reported_as_unexpected():
    model = EAResNet(**SMALL_RESNET)
    state = dict(model.state_dict(), **{'layer9.weight': torch.zeros(1)})
    with pytest.raises(RuntimeError, match='Unexpected key.*layer9.weight'):
        model.load_state_dict(state, strict=True)
