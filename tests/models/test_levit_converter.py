"""LeViT converter (tools/model_converters/levit2mmattn.py): timm / official / mmpretrain LeViT
checkpoints reproduce their features in mmattn.

timm is the oracle of the slow tests (random weights, no download); it imports behind the
torchvision placeholder of ``tests/torchvision_stub.py``. The quick tests need no timm:
they write a small mmattn LeViT's state dict in each source's key layout (mappings written here
from timm's, the official and mmpretrain's ``levit.py``) and convert it back.
"""
import re
from collections import OrderedDict

import pytest
import torch

from mmattn.models import converters as converter
from mmattn.models.backbones.levit import LeViT
from levit_oracle import randomise_levit_statistics, timm_behind_standin


@pytest.fixture(scope='module')
def timm():
    with timm_behind_standin() as timm_module:
        yield timm_module


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


# inside each unit: our sub-key prefix -> timm's [timm levit.py: LinearNorm .linear / .bn,
# proj = Sequential(act, ln), q = Sequential(down, ln), LevitMlp ln1 / act / ln2]
_TIMM_LEAVES = {
    'attn': [('qkv.', 'qkv.'), ('proj.', 'proj.ln.')],
    'shrink': [('kv.', 'kv.'), ('q.', 'q.ln.'), ('proj.', 'proj.ln.')],
    'mlp': [('fc1.', 'ln1.'), ('fc2.', 'ln2.')],
}


def _timm_layout(ours, conv_form: bool = False):
    """timm's names for an ``mmattn.LeViT`` state dict (``levit_*``; ``levit_conv_*`` with
    ``conv_form``: 1x1 conv weights). Stage s > 0 opens with ``downsample.attn_downsample`` and
    ``downsample.mlp``; its blocks count from 0 after them."""
    out = {}
    for key, value in ours.items():
        if key.startswith('stem.'):
            out[key.replace('.conv.', '.linear.')] = value  # stem.convN.conv.* -> .linear.*
            continue
        stage, block, part, leaf = re.match(r'stages\.(\d+)\.(\d+)\.(attn|mlp)\.(.+)$',
                                            key).groups()
        stage, block = int(stage), int(block)
        if stage > 0 and block == 0:
            unit = f'stages.{stage}.downsample.' + ('attn_downsample' if part == 'attn' else 'mlp')
            kind = 'shrink' if part == 'attn' else 'mlp'
        else:
            unit, kind = f'stages.{stage}.blocks.{block - (stage > 0)}.{part}', part
        for mine, theirs in _TIMM_LEAVES[kind]:
            if leaf.startswith(mine):
                leaf = theirs + leaf[len(mine):]
                break
        if conv_form and leaf.endswith('linear.weight'):
            value = value[:, :, None, None]  # (out, in) -> (out, in, 1, 1)
        out[f'{unit}.{leaf}'] = value
    return out


_SMALL = dict(embed_dims=[16, 24, 32], key_dim=8, num_heads=[2, 3, 4], depths=[2, 2, 1])


def _distinct_state(seed: int = 0) -> 'OrderedDict[str, torch.Tensor]':
    """A small LeViT's state dict in which every tensor has its own random values (so that a
    tensor landing on another key shows)."""
    gen = torch.Generator().manual_seed(seed)
    return OrderedDict(
        (key, torch.randn(value.shape, generator=gen) if value.is_floating_point() else
         torch.randint(1, 2**20, value.shape, generator=gen))
        for key, value in LeViT(_SMALL).state_dict().items())


_LAYOUTS = {
    'timm': _timm_layout,
    'timm conv form': lambda state: _timm_layout(state, conv_form=True),
    'official': lambda state: _official_layout(_timm_layout(state))['model'],
    'official conv form': lambda state: _official_layout(_timm_layout(state, True))['model'],
    'mmpretrain': lambda state: _mmpretrain_layout(_timm_layout(state))['state_dict'],
}


@pytest.mark.parametrize('layout', sorted(_LAYOUTS))
def test_each_source_layout_converts_back_to_every_one_of_our_keys_and_tensors(layout):
    state = _distinct_state()
    source = _LAYOUTS[layout](state)
    assert converter.detect_format(converter.strip_prefix(source, 'backbone.')) == \
        layout.split()[0]
    converted = converter.convert_levit(source)
    assert sorted(converted) == sorted(state)
    for key, value in state.items():
        assert torch.equal(converted[key], value), key
    LeViT(_SMALL).load_state_dict(converted, strict=True)


def test_an_mmattn_checkpoint_passes_through_unchanged():
    state = _distinct_state()
    converted = converter.convert_levit({'backbone.' + k: v for k, v in state.items()})
    assert list(converted) == list(state)
    assert all(converted[key] is value for key, value in state.items())


@pytest.mark.slow
@pytest.mark.parametrize('name', ['levit_128s', 'levit_conv_128s'])
def test_the_quick_tests_timm_layout_names_every_tensor_of_timm_levit(timm, name):
    conv_form = 'conv' in name
    ours = _timm_layout(LeViT('128s').state_dict(), conv_form)
    theirs = timm.create_model(name, pretrained=False, num_classes=0).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in theirs.items()}


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


# per source: its stem marker, then a key outside any block and keys with unknown leaves (for
# timm, whose key names the unit, a bias table in an MLP)
_NOT_UNDERSTOOD = {
    'official': ['patch_embed.0.c.weight', 'norm.weight', 'blocks.0.m.qkv.w',
                 'blocks.1.m.1.c.weight'],
    'timm': ['stem.conv1.linear.weight', 'stages.0.norm.weight', 'stages.0.blocks.0.attn.qkv2.w',
             'stages.0.blocks.0.mlp.attention_biases'],
    'mmpretrain': ['patch_embed.patch_embed.0.conv.weight', 'stages.0.norm', 'stages.0.0.kvq.w',
                   'stages.0.1.block.linear3.weight'],
}


@pytest.mark.parametrize('fmt', sorted(_NOT_UNDERSTOOD))
def test_every_key_a_format_does_not_define_is_listed_in_the_error(fmt):
    marker, *unknown = _NOT_UNDERSTOOD[fmt]
    state = {key: torch.zeros(1) for key in [marker] + unknown}
    with pytest.raises(ValueError, match=f'{len(unknown)} {fmt} keys not understood') as error:
        converter.convert_levit(state)
    assert all(repr(key) in str(error.value) for key in unknown)


def test_classifier_heads_and_bias_index_buffers_are_dropped():
    state = _distinct_state()
    source = _official_layout(_timm_layout(state))['model']
    source.update({'head.bn.weight': torch.zeros(4), 'head_dist.l.bias': torch.zeros(10),
                   'blocks.3.m.attention_bias_idxs': torch.zeros(4, 4, dtype=torch.long)})
    assert sorted(converter.convert_levit(source)) == sorted(state)


def test_a_checkpoint_of_another_model_is_rejected_with_its_first_keys():
    with pytest.raises(ValueError, match='conv1.weight'):
        converter.detect_format({'conv1.weight': torch.zeros(1)})
