"""LeViT converter (tools/model_converters/levit2mmattn.py): timm / official / mmpretrain LeViT
checkpoints reproduce their features in mmattn.

timm is the oracle (random weights, no download); it imports behind the torchvision placeholder
of ``mmattn.testing.torchvision_stub``.
"""
import re

import pytest
import torch

from mmattn.models import converters as converter
from mmattn.models.backbones.levit import LeViT
from mmattn.testing import randomise_levit_statistics, torchvision_stub as stub


@pytest.fixture(scope='module')
def timm():
    installed = stub.install()
    import timm as timm_module
    yield timm_module
    if installed:
        stub.uninstall()


def _random_timm_levit(timm, name: str, seed: int = 0):
    """timm LeViT with random BN statistics, BN affines and bias tables (timm zero-inits some)."""
    model = timm.create_model(name, pretrained=False, num_classes=0).eval()
    return randomise_levit_statistics(model, seed)


def _timm_stage_maps(model, x):
    """timm's stage outputs as (B, C, H, W), run stage by stage."""
    y = model.stem(x)
    hw = y.shape[2:]
    if not model.use_conv:
        y = y.flatten(2).transpose(1, 2)  # B, N, C
    maps = []
    for i, stage in enumerate(model.stages):
        y = stage(y)
        if i > 0:
            hw = [(size - 1) // 2 + 1 for size in hw]  # stride-2 shrink attention
        maps.append(y if y.dim() == 4 else y.transpose(1, 2).reshape(y.shape[0], -1, *hw))
    return maps


@pytest.mark.slow
@pytest.mark.parametrize('name,arch', [('levit_128s', '128s'), ('levit_conv_128s', '128s'),
                                       ('levit_256', '256'), ('levit_conv_256', '256')])
def test_converted_timm_weights_reproduce_timm_stage_features_at_224(timm, name, arch):
    torch.manual_seed(0)
    source = _random_timm_levit(timm, name)
    ours = LeViT(arch, out_indices=(2, 3, 4)).eval()
    ours.load_state_dict(converter.convert_levit(source.state_dict()), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = _timm_stage_maps(source, x)
        result = ours(x)
    assert [tuple(m.shape) for m in result] == [tuple(m.shape) for m in expected]
    for ours_map, timm_map in zip(result, expected):
        torch.testing.assert_close(ours_map, timm_map, rtol=1e-4, atol=1e-4)


def _official_layout(timm_state):
    """The official ``levit.py`` names of a timm LeViT state dict (flat ``blocks.k``)."""
    out, flat = {}, -1
    units = {}
    for key, value in timm_state.items():
        if 'attention_bias_idxs' in key:
            continue
        stem = re.match(r'stem\.conv(\d)\.linear\.(.+)', key) or re.match(
            r'stem\.conv(\d)\.(bn\..+)', key)
        if stem:
            part = 'c.' + stem[2] if 'linear' in key else stem[2]
            out[f'patch_embed.{2 * (int(stem[1]) - 1)}.{part}'] = value
            continue
        match = re.match(r'stages\.(\d+)\.(downsample\.attn_downsample|downsample\.mlp|'
                         r'blocks\.(\d+)\.attn|blocks\.(\d+)\.mlp)\.(.+)', key)
        stage, part, rest = int(match[1]), match[2], match[5]
        block = int(match[3] or match[4] or 0)
        order = (stage, part.startswith('blocks'), block, part.endswith('mlp'))
        units.setdefault(order, []).append((part, rest, value))
    for order in sorted(units):
        flat += 1
        for part, rest, value in units[order]:
            rest = rest.replace('linear.', 'c.').replace('proj.ln.', 'proj.1.')
            rest = rest.replace('q.ln.', 'q.1.').replace('ln1.', '0.').replace('ln2.', '2.')
            prefix = f'blocks.{flat}.' if part.endswith('attn_downsample') else f'blocks.{flat}.m.'
            out[prefix + rest] = value
    out['head.l.weight'] = torch.zeros(10, 4)
    out['blocks.0.m.attention_bias_idxs'] = torch.zeros(4, 4, dtype=torch.long)
    return {'model': out}


def _mmpretrain_layout(timm_state):
    """The mmpretrain names (``backbone.`` prefix, ``stages.s.k`` with Residual ``block``)."""
    out = {'head.fc.weight': torch.zeros(10, 4)}
    for key, value in timm_state.items():
        if 'attention_bias_idxs' in key:
            continue
        stem = re.match(r'stem\.conv(\d)\.(linear|bn)\.(.+)', key)
        if stem:
            part = 'conv' if stem[2] == 'linear' else 'bn'
            out[f'backbone.patch_embed.patch_embed.{2 * (int(stem[1]) - 1)}.{part}.{stem[3]}'] = \
                value
            continue
        stage = int(key.split('.')[1])
        shift = 2 if stage > 0 else 0
        if '.downsample.attn_downsample.' in key:
            rest = key.split('.attn_downsample.')[1].replace('q.ln.', 'q.1.').replace(
                'proj.ln.', 'proj.1.')
            name = f'stages.{stage}.0.{rest}'
        elif '.downsample.mlp.' in key:
            rest = key.split('.mlp.')[1].replace('ln1.', 'linear1.').replace('ln2.', 'linear2.')
            name = f'stages.{stage}.1.block.{rest}'
        else:
            block = int(key.split('.')[3])
            if '.attn.' in key:
                rest = key.split('.attn.')[1].replace('proj.ln.', 'proj.1.')
                name = f'stages.{stage}.{shift + 2 * block}.block.{rest}'
            else:
                rest = key.split('.mlp.')[1].replace('ln1.', 'linear1.').replace(
                    'ln2.', 'linear2.')
                name = f'stages.{stage}.{shift + 2 * block + 1}.block.{rest}'
        out['backbone.' + name] = value
    return {'state_dict': out, 'meta': {}}


@pytest.mark.slow
def test_official_and_mmpretrain_layouts_convert_like_timm(timm, tmp_path):
    timm_state = _random_timm_levit(timm, 'levit_128s').state_dict()
    expected = converter.convert_levit(timm_state)
    for layout, fmt in [(_official_layout, 'official'), (_mmpretrain_layout, 'mmpretrain')]:
        path = tmp_path / f'{fmt}.pth'
        torch.save(layout(timm_state), path)
        state = converter.load_state_dict(str(path))
        assert converter.detect_format(
            {k.replace('backbone.', '', 1): v for k, v in state.items()}) == fmt
        converted = converter.convert_levit(state)
        assert sorted(converted) == sorted(expected), fmt
        for key, value in expected.items():
            assert torch.equal(converted[key], value), (fmt, key)


def test_a_converted_and_saved_checkpoint_loads_strictly(tmp_path):
    source = LeViT('128s').state_dict()
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in source.items()}}, src)
    converter.save_state_dict(converter.convert_levit(converter.load_state_dict(str(src))),
                              str(dst), dict(source_format='mmattn'))
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert saved['meta']['source_format'] == 'mmattn'
    LeViT('128s').load_state_dict(saved['state_dict'], strict=True)


def test_keys_that_are_not_understood_are_listed_in_the_error():
    state = {'stem.conv1.linear.weight': torch.zeros(1), 'stages.0.mystery.weight': torch.zeros(1)}
    with pytest.raises(ValueError, match=r"stages\.0\.mystery\.weight"):
        converter.convert_levit(state)


def test_a_checkpoint_of_another_model_is_rejected_with_its_first_keys():
    with pytest.raises(ValueError, match='conv1.weight'):
        converter.detect_format({'conv1.weight': torch.zeros(1)})
