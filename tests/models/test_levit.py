"""mmattn.LeViT backbone: architectures, any input size, deploy form, registry, init, freezing."""
import itertools
import math

import pytest
import torch
from torch import nn

from mmattn.models.backbones.levit import LeViT
from mmattn.layers import switch_to_deploy
from levit_oracle import randomise_levit_statistics
from messages import names

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)

# LeViT paper, Table 2: parameters with the two classifier heads (BN + Linear to 1000 each)
_PAPER_PARAMS_M = {'128s': 7.8, '128': 9.2, '192': 11.0, '256': 18.9, '384': 39.1}


_randomise = randomise_levit_statistics


def _tiny(**kwargs) -> LeViT:
    arch = dict(embed_dims=[32, 48, 64], key_dim=8, num_heads=[2, 3, 4], depths=[1, 1, 1])
    return LeViT(arch, **kwargs)


# LeViT paper, Table 2 (and the official `specification`): widths C, key dim D, heads N, depths
_PAPER_ARCHS = {
    '128s': ([128, 256, 384], 16, [4, 6, 8], [2, 3, 4]),
    '128': ([128, 256, 384], 16, [4, 8, 12], [4, 4, 4]),
    '192': ([192, 288, 384], 32, [3, 5, 6], [4, 4, 4]),
    '256': ([256, 384, 512], 32, [4, 6, 8], [4, 4, 4]),
    '384': ([384, 512, 768], 32, [6, 9, 12], [4, 4, 4]),
}


@pytest.mark.parametrize('arch', sorted(_PAPER_ARCHS))
def test_each_arch_builds_the_papers_widths_key_dim_heads_and_depths(arch):
    widths, key_dim, heads, depths = _PAPER_ARCHS[arch]
    model = LeViT(arch)
    assert model.stem.conv4.conv.out_channels == widths[0]
    for i, stage in enumerate(model.stages):
        blocks = list(stage)[1:] if i > 0 else list(stage)  # a shrink block opens stages 2, 3
        assert len(blocks) == depths[i], (arch, i)
        for block in blocks:
            assert (block.attn.num_heads, block.attn.key_dim) == (heads[i], key_dim), (arch, i)
            assert block.mlp.fc2.linear.out_features == widths[i], (arch, i)
        if i > 0:
            shrink = stage[0].attn
            assert (shrink.num_heads, shrink.key_dim) == (widths[i - 1] // key_dim, key_dim)
            assert shrink.proj.linear.out_features == widths[i], (arch, i)


@pytest.mark.parametrize('arch', sorted(_PAPER_PARAMS_M))
def test_each_arch_has_the_paper_parameter_count(arch):
    model = LeViT(arch)
    width = model.arch_settings['embed_dims'][-1]
    heads = 2 * (width * 1000 + 1000 + 2 * width)
    total = (sum(p.numel() for p in model.parameters()) + heads) / 1e6
    assert abs(total - _PAPER_PARAMS_M[arch]) / _PAPER_PARAMS_M[arch] < 0.01


def test_a_dict_arch_missing_keys_names_them():
    with pytest.raises(KeyError, match=r"\['key_dim', 'depths'\]"):
        LeViT(dict(embed_dims=[32, 48], num_heads=[2, 3]))


def test_an_unknown_arch_name_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"'512'.*'128s'"):
        LeViT('512')


def test_an_arch_that_is_neither_a_name_nor_a_dict_is_rejected_naming_its_type():
    with pytest.raises(TypeError, match=names('arch', 'int')):
        LeViT(256)


def test_a_dict_arch_needs_one_entry_per_stage_in_each_list():
    arch = dict(embed_dims=[32, 48], key_dim=8, num_heads=[2, 3, 4], depths=[1, 1])
    with pytest.raises(ValueError, match=names("'num_heads': 3")):
        LeViT(arch)


def test_out_of_range_out_indices_are_rejected():
    with pytest.raises(ValueError, match=names('out_indices', 5)):
        _tiny(out_indices=(2, 5))


def test_the_most_negative_out_index_is_the_first_level():
    assert _tiny(out_indices=-5).out_indices == [0]


@pytest.mark.parametrize('out_indices', [(2, 2), (2, -3), ()])
def test_repeated_or_empty_out_indices_are_rejected(out_indices):
    with pytest.raises(ValueError, match=names('out_indices')):
        _tiny(out_indices=out_indices)


def test_bias_tables_are_stored_at_the_14_7_4_token_grids_of_224_pretraining():
    model = _tiny()  # widths 32 / 48 / 64, key dim 8, heads 2 / 3 / 4
    tables = [[tuple(block.attn.attention_biases.shape) for block in stage]
              for stage in model.stages]
    assert tables == [[(2, 14 * 14)], [(32 // 8, 14 * 14), (3, 7 * 7)],
                      [(48 // 8, 7 * 7), (4, 4 * 4)]]


def test_a_non_square_size_not_a_multiple_of_16_gives_ceil_shapes_at_every_level():
    model = _tiny(out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 97, 131))
    expected = [(2, c, math.ceil(97 / s), math.ceil(131 / s))
                for c, s in zip([8, 16, 32, 48, 64], [4, 8, 16, 32, 64])]
    assert [tuple(o.shape) for o in outs] == expected
    assert model.out_channels == [8, 16, 32, 48, 64]
    assert all(type(channels) is int for channels in model.out_channels)  # necks build convs


def test_each_sample_of_a_batch_gets_the_features_it_gets_alone():
    model = _randomise(_tiny(out_indices=(0, 1, 2, 3, 4))).eval()
    x = torch.randn(2, 3, 48, 80)
    with torch.no_grad():
        batched, alone = model(x), model(x[1:])
    for level, (both, one) in enumerate(zip(batched, alone)):
        torch.testing.assert_close(both[1:], one, rtol=1e-5, atol=1e-5, msg=f'level {level}')


def test_stages_after_the_last_requested_level_do_not_run():
    model = _tiny(out_indices=(1, 2)).train()
    model(torch.randn(2, 3, 64, 64))
    runs = [stage[0].mlp.fc1.bn.num_batches_tracked.item() for stage in model.stages]
    assert runs == [1, 0, 0]  # BN statistics of skipped stages stay untouched


def test_outputs_follow_the_order_of_out_indices_with_negative_indices():
    model = _tiny(out_indices=(-1, 1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 16] == model.out_channels


@pytest.mark.slow
def test_levit_128s_runs_at_512x1024_with_every_level_shaped():
    model = LeViT('128s', out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 512, 1024))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 128, 256), (1, 64, 64, 128),
                                              (1, 128, 32, 64), (1, 256, 16, 32),
                                              (1, 384, 8, 16)]


def test_deploy_form_equals_training_form_in_eval():
    model = _randomise(LeViT('128s', out_indices=(0, 1, 2, 3, 4))).eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        expected = model(x)
        switch_to_deploy(model)
        result = model(x)
    assert not any(isinstance(m, BATCH_NORMS) for m in model.modules())
    for fused, unfused in zip(result, expected):
        scale = unfused.abs().max()
        assert (fused - unfused).abs().max() <= 1e-4 * scale


def test_switch_to_deploy_twice_changes_nothing():
    model = _randomise(_tiny()).eval()
    model.switch_to_deploy()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.switch_to_deploy()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_switch_to_deploy_refuses_training_mode():
    with pytest.raises(RuntimeError, match=names('eval')):
        _tiny().train().switch_to_deploy()


def test_an_unfoldable_norm_raises_and_leaves_the_model_untouched():
    model = _tiny(norm_cfg=dict(type='GN', num_groups=4)).eval()
    with pytest.raises(TypeError, match=r'stem\.conv1\.bn.*GroupNorm'):
        model.switch_to_deploy()
    assert sum(isinstance(m, nn.GroupNorm) for m in model.modules()) == 4 + 3 * 4 + 2 * 5
    assert not model.deploy


def test_loading_other_weights_in_eval_changes_the_output_to_theirs():
    source = _randomise(_tiny(), seed=1).eval()
    target = _randomise(_tiny(), seed=2).eval()
    x = torch.randn(1, 3, 80, 112)
    with torch.no_grad():
        target(x)  # fills the bias caches at this size
        target.load_state_dict(source.state_dict())
        for ours, theirs in zip(target(x), source(x)):
            torch.testing.assert_close(ours, theirs)


def test_gradients_reach_every_parameter_in_training_at_an_odd_size():
    model = _randomise(_tiny(out_indices=(0, 1, 2, 3, 4), drop_path_rate=0.1)).train()
    torch.manual_seed(0)
    outs = model(torch.randn(2, 3, 75, 99))
    sum(o.square().mean() for o in outs).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


# max |error| / max |float32 output| measured at this setting: fp16 0.07%, bf16 0.5%
@pytest.mark.parametrize('dtype, tolerance', [(torch.float16, 5e-3), (torch.bfloat16, 2e-2)])
def test_autocast_outputs_are_close_to_float32_relative_to_their_scale(dtype, tolerance):
    model = _randomise(_tiny()).eval()
    x = torch.randn(1, 3, 96, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
        with torch.autocast('cpu', dtype=dtype):
            low = model(x)
    for lo, hi in zip(low, expected):
        assert (lo.float() - hi).abs().max() <= tolerance * hi.abs().max()


@pytest.mark.parametrize('mode', ['bicubic', 'bilinear', 'nearest'])
def test_bias_interpolation_reaches_every_attention_of_the_backbone(mode):
    from mmattn.layers.levit_blocks import LeViTAttention, LeViTShrinkAttention
    model = _tiny(bias_interpolation=mode)
    attentions = [m for m in model.modules()
                  if isinstance(m, (LeViTAttention, LeViTShrinkAttention))]
    assert len(attentions) == 3 + 2  # one per block, one per shrink block
    assert {m.bias_interpolation for m in attentions} == {mode}


def test_deploy_true_builds_the_switched_form_and_loads_its_checkpoint_strictly():
    trained = _randomise(_tiny()).eval()
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        switch_to_deploy(trained)
        expected = trained(x)
    deployed = _tiny(deploy=True).eval()
    assert deployed.deploy
    assert not any(isinstance(m, BATCH_NORMS) for m in deployed.modules())
    deployed.load_state_dict(trained.state_dict(), strict=True)
    with torch.no_grad():
        for ours, theirs in zip(deployed(x), expected):
            torch.testing.assert_close(ours, theirs)


def _trainable(module: nn.Module) -> bool:
    """Whether every parameter of ``module`` trains and every sub-module is in training mode."""
    return (all(p.requires_grad for p in module.parameters())
            and all(m.training for m in module.modules()))


def _frozen(module: nn.Module) -> bool:
    return (not any(p.requires_grad for p in module.parameters())
            and not any(m.training for m in module.modules()))


def test_frozen_stages_are_frozen_from_construction_on():
    model = _tiny(frozen_stages=1)
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2])
def test_frozen_stages_stay_in_eval_and_without_grad_after_train(frozen_stages):
    # -1 freezes nothing, 0 the stem, k the stem and the first k stages
    model = _tiny(frozen_stages=frozen_stages).train()
    parts = [model.stem] + list(model.stages)
    for i, part in enumerate(parts):
        expected = _frozen if i <= frozen_stages else _trainable
        assert expected(part), (frozen_stages, i)


def test_norm_eval_is_off_by_default_and_puts_only_the_batchnorms_in_eval():
    assert _trainable(_tiny().train())
    model = _tiny(norm_eval=True, drop_path_rate=0.1).train()
    for module in model.modules():
        is_bn = isinstance(module, BATCH_NORMS)
        assert module.training != is_bn, type(module).__name__


def test_frozen_stages_and_norm_eval_hold_in_training_mode():
    model = _tiny(frozen_stages=1, norm_eval=True).train()
    frozen = [p.requires_grad for p in itertools.chain(model.stem.parameters(),
                                                       model.stages[0].parameters())]
    assert not any(frozen)
    assert all(p.requires_grad for p in model.stages[1].parameters())
    assert all(not m.training for m in model.modules()
               if isinstance(m, BATCH_NORMS))


def test_builds_by_plain_and_scoped_name_from_mmdet_and_mmseg_registries():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    arch = dict(embed_dims=[32, 48, 64], key_dim=8, num_heads=[2, 3, 4], depths=[1, 1, 1])
    for registry, name in itertools.product([DET_MODELS, SEG_MODELS], ['LeViT', 'mmattn.LeViT']):
        assert isinstance(registry.build(dict(type=name, arch=arch)), LeViT)


def test_pretrained_init_cfg_loads_a_converted_checkpoint_file(tmp_path):
    source = _randomise(_tiny(), seed=3)
    path = tmp_path / 'levit_mmattn.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    model = _tiny(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
