"""LambdaResNet: placement, paper parity, host-ResNet features and ImageNet checkpoint loading."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader
from mmdet.registry import MODELS as MMDET_MODELS
from mmseg.models.backbones import ResNet, ResNetV1c
from mmseg.registry import MODELS as MMSEG_MODELS
from torch import nn

import mmattn  # noqa: F401  (registers the models)
from mmattn.layers import LambdaLayer
from mmattn.models.backbones import LambdaResNet
from mmattn.models.backbones.lambda_resnet import paper_hybrid_blocks
from messages import names

SMALL = dict(depth=50, base_channels=16, stem_channels=16)  # ResNet-50 layout, 1/4 the width


def _lambda_names(model: nn.Module):
    return [name for name, module in model.named_modules() if isinstance(module, LambdaLayer)]


def test_all_3x3_replaced_lambda_resnet50_has_the_paper_parameter_count():
    # paper: 15.0M with a 1000-class fc (2048 * 1000 + 1000); the backbone has no fc. 15.0 is
    # rounded to 0.1M, so the count must lie within 0.05M of it. We count 14.996M (r=23); the
    # scope's embeddings are 16 * r^2 per layer, so r=15 would give 14.918M and fail.
    model = LambdaResNet(depth=50, lambda_stages=(True, True, True, True))
    with_classifier = sum(p.numel() for p in model.parameters()) + 2048 * 1000 + 1000
    assert abs(with_classifier - 15.0e6) < 0.05e6
    assert len(_lambda_names(model)) == 16  # every Bottleneck: 3 + 4 + 6 + 3


def test_each_lambda_layer_has_the_parameters_of_its_definition():
    model = LambdaResNet(**SMALL, lambda_stages=(False, False, True, False),
                         lambda_blocks=(None, None, (0, ), None))
    layer = model.layer3[0].conv2  # d = 64 channels in and out
    d, k, h, u, r = 64, 16, 4, 1, 23
    v = d // h
    expected = (d * h * k + d * k * u + d * v * u  # W_Q, W_K, W_V (1x1, no bias)
                + 2 * h * k + 2 * v * u  # BN affine of queries and values, none on keys
                + k * u * r * r)  # relative position embeddings of the r x r scope
    assert sum(p.numel() for p in layer.parameters()) == expected


@pytest.mark.parametrize('depth, c4_blocks', [(50, [5]), (101, [7, 14, 22]),
                                              (152, [5, 11, 17, 23, 29, 35])])
def test_paper_hybrid_presets_put_lambda_layers_in_c4_and_every_c5_block(depth, c4_blocks):
    model = LambdaResNet(depth=depth)
    expected = [f'layer3.{i}.conv2' for i in c4_blocks] + [f'layer4.{i}.conv2' for i in range(3)]
    assert _lambda_names(model) == expected
    assert list(model.lambda_layers()) == expected


@pytest.mark.parametrize('depth, stage_blocks, c4_blocks', [
    (50, (3, 4, 6, 3), (5, )), (101, (3, 4, 23, 3), (7, 14, 22)),
    (152, (3, 8, 36, 3), (5, 11, 17, 23, 29, 35))])
def test_paper_hybrid_blocks_end_equal_segments_of_c4_with_non_negative_indices(
        depth, stage_blocks, c4_blocks):
    # count c4 layers at the end of equal segments: round(i * blocks / count) - 1, i = 1..count
    assert paper_hybrid_blocks(depth, stage_blocks) == (None, None, c4_blocks, None)


def test_paper_hybrid_blocks_of_a_depth_without_a_paper_hybrid_is_an_error():
    with pytest.raises(ValueError, match=names('depth', 34)):
        paper_hybrid_blocks(34, (3, 4, 6, 3))


def test_all_preset_replaces_every_3x3_conv():
    model = LambdaResNet(**SMALL, lambda_preset='all')
    assert _lambda_names(model) == [f'layer{stage + 1}.{block}.conv2'
                                    for stage, blocks in enumerate((3, 4, 6, 3))
                                    for block in range(blocks)]


def test_lambda_blocks_choose_blocks_within_chosen_stages():
    model = LambdaResNet(**SMALL, lambda_stages=(False, True, False, True),
                         lambda_blocks=(None, (0, -1), None, (1, )))
    assert _lambda_names(model) == ['layer2.0.conv2', 'layer2.3.conv2', 'layer4.1.conv2']
    assert model.layer2[0].conv2.stride == 2  # the strided block keeps its stride
    assert isinstance(model.layer2[1].conv2, nn.Conv2d)


def test_lambda_layers_use_the_paper_defaults_and_the_block_channels():
    model = LambdaResNet(**SMALL, lambda_stages=(False, False, True, False),
                         lambda_blocks=(None, None, (0, ), None))
    layer = model.layer3[0].conv2
    assert (layer.in_channels, layer.out_channels, layer.stride) == (64, 64, 2)
    assert (layer.dim_k, layer.heads, layer.dim_u, layer.r) == (16, 4, 1, 23)


def test_lambda_cfg_reaches_every_lambda_layer():
    model = LambdaResNet(**SMALL, lambda_cfg=dict(dim_k=8, heads=2, dim_u=2, r=7))
    for layer in model.lambda_layers().values():
        assert (layer.dim_k, layer.heads, layer.dim_u, layer.r) == (8, 2, 2, 7)


def test_outputs_have_the_shapes_of_the_plain_resnet_at_odd_sizes():
    torch.manual_seed(0)
    kwargs = dict(SMALL, out_indices=(0, 1, 2, 3))
    lambda_model = LambdaResNet(**kwargs, lambda_stages=(True, True, True, True)).eval()
    plain = ResNet(**kwargs)
    plain.eval()  # mmseg's ResNet.train() returns None
    x = torch.randn(1, 3, 67, 45)
    with torch.no_grad():
        assert [o.shape for o in lambda_model(x)] == [o.shape for o in plain(x)]


def test_deep_stem_and_dilations_work_as_in_mmseg_resnetv1c_d8():
    kwargs = dict(depth=50, base_channels=16, stem_channels=16, dilations=(1, 1, 2, 4),
                  strides=(1, 2, 1, 1), contract_dilation=True)
    model = LambdaResNet(deep_stem=True, **kwargs).eval()
    plain = ResNetV1c(**kwargs)
    plain.eval()
    x = torch.randn(1, 3, 40, 56)
    assert hasattr(model, 'stem')
    with torch.no_grad():
        shapes = [o.shape for o in model(x)]
    assert shapes == [o.shape for o in plain(x)]
    assert shapes[-1][-2:] == (5, 7)  # output stride 8


@pytest.mark.slow  # two float64 ResNet-50 backwards
@pytest.mark.parametrize('frozen_stages', [-1, 2])
def test_backward_with_checkpointing_gives_the_gradients_of_the_plain_backward(frozen_stages):
    """Recomputation in backward must reproduce the forward exactly. With frozen stages the
    first block after them gets an input that needs no gradient (mmseg's Bottleneck then runs
    it without checkpointing, the blocks after it with).

    In float64: batch statistics of 2 small images make some BN weight gradients so
    ill-conditioned that float32 rounding alone (the order in which checkpointing accumulates
    gradients) moves them by a few percent; in float64 the two agree to 1e-10.
    """
    kwargs = dict(SMALL, lambda_stages=(False, False, True, True), frozen_stages=frozen_stages)
    plain = LambdaResNet(**kwargs).double().train()
    checkpointed = LambdaResNet(**kwargs, with_cp=True).double().train()
    checkpointed.load_state_dict(plain.state_dict())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 24, 32, generator=gen, dtype=torch.float64)  # an image: no grad
    upstream = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in plain(x)]
    grads = []
    for model in (plain, checkpointed):
        model.zero_grad(set_to_none=True)
        sum((o * w).sum() for o, w in zip(model(x), upstream)).backward()
        grads.append({name: p.grad for name, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 0
    for name, want in grads[0].items():
        assert want is not None and grads[1][name] is not None, name
        torch.testing.assert_close(grads[1][name], want, rtol=1e-7, atol=1e-7 * want.abs().max(),
                                   msg=lambda m, name=name: f'{name}: {m}')


@pytest.mark.parametrize('registry', [MMDET_MODELS, MMSEG_MODELS], ids=['mmdet', 'mmseg'])
@pytest.mark.parametrize('type_name', ['LambdaResNet', 'mmattn.LambdaResNet'])
def test_builds_from_mmdet_and_mmseg_registries(registry, type_name):
    model = registry.build(dict(type=type_name, **SMALL))
    assert isinstance(model, LambdaResNet)


def test_norm_eval_freezes_resnet_norms_but_not_the_new_lambda_norms():
    model = LambdaResNet(**SMALL, norm_eval=True).train()
    assert not model.layer3[0].bn2.training
    for layer in model.lambda_layers().values():
        assert layer.norm_queries.training and layer.norm_values.training
    frozen = LambdaResNet(**SMALL, norm_eval=True, lambda_norm_eval=True).train()
    for layer in frozen.lambda_layers().values():
        assert not layer.norm_queries.training and not layer.norm_values.training


def test_frozen_stages_freeze_the_lambda_layers_they_contain():
    model = LambdaResNet(**SMALL, frozen_stages=3, norm_eval=True).train()
    c4 = model.layer3[5].conv2
    assert not any(p.requires_grad for p in c4.parameters())
    assert not c4.norm_queries.training
    assert all(p.requires_grad for p in model.layer4[0].conv2.parameters())
    # stage 4 (index 3) is after the frozen ones: its new norms learn statistics
    for block in model.layer4:
        assert block.conv2.norm_queries.training and block.conv2.norm_values.training
        assert not block.bn2.training  # norm_eval still holds for the pretrained norms


def test_frozen_stages_freeze_the_lambda_layers_at_construction_as_resnet_does():
    model = LambdaResNet(**SMALL, frozen_stages=3)  # no train() call
    assert not model.layer3[0].conv1.weight.requires_grad  # ResNet's own freeze
    assert not any(p.requires_grad for p in model.layer3[5].conv2.parameters())
    assert all(p.requires_grad for p in model.layer4[0].conv2.parameters())


def test_lambda_norms_follow_norm_cfg_but_always_learn():
    model = LambdaResNet(**SMALL, norm_cfg=dict(type='SyncBN', requires_grad=False))
    layer = model.layer4[0].conv2
    assert isinstance(layer.norm_queries, nn.SyncBatchNorm)
    assert layer.norm_values.weight.requires_grad
    assert not model.layer4[0].bn2.weight.requires_grad


def test_init_weights_keeps_the_lambda_layers_own_init():
    torch.manual_seed(0)
    model = LambdaResNet(**SMALL)
    model.init_weights()
    keys = model.layer4[0].conv2.to_keys.weight  # in_channels 128 -> std 128 ** -0.5
    # ResNet's Kaiming (fan_out = 16 outputs) would give std (2 / 16) ** 0.5 = 0.35
    assert abs(keys.std().item() - 128**-0.5) < 0.02
    # ResNet's own init ran too: Kaiming fan_out (PyTorch's default would give 0.036 here)
    conv = model.layer4[0].conv1.weight  # 256 -> 128, 1x1
    assert abs(conv.std().item() - (2 / 128)**0.5) < 0.01
    assert model.layer4[0].norm3.weight.abs().max() == 0  # zero_init_residual
    assert model.is_init


def _resnet_checkpoint(tmp_path, prefix='', with_classifier=True, edit=None):
    torch.manual_seed(1)
    resnet = ResNet(**SMALL)
    state = {prefix + key: value for key, value in resnet.state_dict().items()}
    if with_classifier:
        state[prefix.replace('backbone.', 'head.') + 'fc.weight'] = torch.randn(10, 512)
        state[prefix.replace('backbone.', 'head.') + 'fc.bias'] = torch.randn(10)
    if edit is not None:
        edit(state)
    path = str(tmp_path / 'resnet.pth')
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path, resnet.state_dict()


def _logged(run) -> list:
    """The messages the mmengine logger receives while ``run()`` runs."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        run()
    finally:
        logger.removeHandler(handler)
    return messages


def _load(path, **init):
    model = LambdaResNet(**SMALL, init_cfg=dict(type='Pretrained', checkpoint=path, **init))
    prefixes = tuple(f'{name}.' for name in model.lambda_layer_names)
    lambda_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefixes)}
    return model, lambda_before, _logged(model.init_weights)


def test_imagenet_resnet_checkpoint_loads_every_remaining_weight(tmp_path):
    path, resnet_state = _resnet_checkpoint(tmp_path)
    model, lambda_before, _ = _load(path)
    own = model.state_dict()
    replaced = {f'{name}.weight' for name in model.lambda_layer_names}
    for key, value in resnet_state.items():
        if key not in replaced:
            torch.testing.assert_close(own[key], value, msg=key)
    for key, value in lambda_before.items():  # lambda layers keep their fresh init
        torch.testing.assert_close(own[key], value, msg=key)


def test_replaced_convs_are_listed_in_one_log_message(tmp_path):
    path, _ = _resnet_checkpoint(tmp_path)
    model, _, messages = _load(path)
    names = [f'{name}.weight' for name in model.lambda_layer_names]
    (message, ) = [m for m in messages if any(name in m for name in names)]
    assert all(name in message for name in names)
    assert 'fc.weight' in message and 'classifier' in message
    assert 'lambda layers loaded' not in message  # none was in an ImageNet checkpoint


def test_checkpoint_with_a_backbone_prefix_loads_with_prefix(tmp_path):
    path, resnet_state = _resnet_checkpoint(tmp_path, prefix='backbone.')
    model, _, _ = _load(path, prefix='backbone.')
    torch.testing.assert_close(model.state_dict()['layer1.0.conv1.weight'],
                               resnet_state['layer1.0.conv1.weight'])


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.pop('layer1.0.conv1.weight'), r'missing.*layer1\.0\.conv1\.weight'),
    (lambda s: s.__setitem__('layer5.0.conv1.weight', torch.zeros(1)),
     r'unexpected.*layer5\.0\.conv1\.weight'),
    (lambda s: s.__setitem__('layer2.0.conv1.weight', torch.zeros(32, 64, 3, 3)),
     r'layer2\.0\.conv1\.weight.*\(32, 64, 3, 3\)'),
    (lambda s: s.__setitem__('layer4.0.conv2.to_keys.weight', torch.zeros(16, 128, 1, 1)),
     r'partly.*layer4\.0\.conv2'),
], ids=['missing', 'unexpected', 'shape', 'partial-lambda'])
def test_any_other_checkpoint_mismatch_is_an_error(tmp_path, edit, message):
    path, _ = _resnet_checkpoint(tmp_path, edit=edit)
    with pytest.raises(RuntimeError, match=message):
        _load(path)


def test_a_lambda_resnet_checkpoint_loads_its_lambda_layers(tmp_path):
    source = LambdaResNet(**SMALL)
    path = str(tmp_path / 'lambda.pth')
    torch.save(source.state_dict(), path)
    model, _, messages = _load(path)
    key = 'layer4.0.conv2.position_embeddings'
    torch.testing.assert_close(model.state_dict()[key], source.state_dict()[key])
    assert any('4 lambda layers loaded' in message for message in messages)


@pytest.mark.parametrize('kwargs, message', [
    (dict(depth=18), 'depth 18 uses BasicBlock'),
    (dict(depth=34, lambda_stages=(True, ) * 4), 'depth 34 uses BasicBlock'),
    (dict(SMALL, lambda_stages=(True, True)), names('lambda_stages', (True, True), 4)),
    (dict(SMALL, lambda_stages=(True, ) * 4, lambda_blocks=(None, (4, ), None, None)),
     names('lambda_blocks', 4, 'layer2')),
    (dict(SMALL, lambda_cfg=dict(stride=2)), names('lambda_cfg', 'stride')),
    (dict(SMALL, lambda_preset='c5'), names('lambda_preset', "'c5'")),
    (dict(SMALL, lambda_stages=(False, ) * 4), names('lambda_stages', (False, ) * 4)),
    (dict(SMALL, lambda_blocks=(None, None, (0, ), None)), names('lambda_blocks', 'lambda_stages')),
    (dict(SMALL, lambda_stages=(True, ) * 4, lambda_blocks=(None, None)),
     names('lambda_blocks', (None, None), 4)),
    (dict(SMALL, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(0, 1, 2),
          stage_with_dcn=(False, ) * 3), names('num_stages', 3)),
    (dict(SMALL, dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
          stage_with_dcn=(False, False, False, True)),
     names('layer4.0', 'DCN')),
])
def test_invalid_placements_raise_errors_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LambdaResNet(**kwargs)


def test_is_initialised_after_loading_a_checkpoint(tmp_path):
    path, _ = _resnet_checkpoint(tmp_path)
    model, _, _ = _load(path)
    assert model.is_init  # a host's init_weights() does not initialise the backbone again


def test_other_init_cfgs_apply_and_the_checkpoint_wins_where_it_has_weights(tmp_path):
    path, resnet_state = _resnet_checkpoint(tmp_path)
    model = LambdaResNet(**SMALL, init_cfg=[dict(type='Pretrained', checkpoint=path),
                                            dict(type='Constant', val=0.5, layer='BatchNorm2d')])
    model.init_weights()
    for layer in model.lambda_layers().values():  # not in the checkpoint: the Constant init
        assert torch.all(layer.norm_queries.weight == 0.5)
    torch.testing.assert_close(model.layer1[0].bn1.weight, resnet_state['layer1.0.bn1.weight'])


def _serve_once(filename, map_location=None):
    """A checkpoint source that can be read once (as a download or a stream)."""
    if filename in _SERVED:
        raise RuntimeError(f'{filename} was read a second time')
    _SERVED.add(filename)
    return torch.load(filename[len('once://'):], map_location=map_location)


_SERVED = set()
CheckpointLoader.register_scheme(prefixes='once://', loader=_serve_once, force=True)


@pytest.mark.parametrize('others', [[], [dict(type='Constant', val=0.5, layer='BatchNorm2d')]],
                         ids=['alone', 'with_another_init'])
def test_the_checkpoint_is_read_once_by_the_lambda_aware_loader(tmp_path, others):
    # mmengine's PretrainedInit would read it a second time, with its own (lenient) rules
    path, resnet_state = _resnet_checkpoint(tmp_path)
    model = LambdaResNet(**SMALL, init_cfg=[dict(type='Pretrained', checkpoint=f'once://{path}'),
                                            *others])
    model.init_weights()
    torch.testing.assert_close(model.layer1[0].bn1.weight, resnet_state['layer1.0.bn1.weight'])


@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_map_location_of_the_init_cfg_reaches_torch_load(tmp_path, prefix):
    path, _ = _resnet_checkpoint(tmp_path, prefix=prefix or '')
    locations = []

    def map_location(storage, location):
        locations.append(location)
        return storage

    extra = {} if prefix is None else dict(prefix=prefix)
    _load(path, map_location=map_location, **extra)
    assert locations and set(locations) == {'cpu'}


def test_checkpoint_loading_messages_go_to_the_mmengine_logger(tmp_path):
    import logging

    from mmengine.logging import MMLogger
    path, _ = _resnet_checkpoint(tmp_path)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        _load(path)
    finally:
        logger.removeHandler(handler)
    assert any(r.getMessage().startswith('Loads checkpoint by ') for r in records)
