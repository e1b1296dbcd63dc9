"""LeViT checkpoints of the official code, timm and mmpretrain -> ``mmattn.LeViT`` keys.

Sources: official ``{'model': ...}``, mmpretrain ``{'state_dict': {'backbone.*': ...}}``, timm
state dicts (``.pth`` or ``.safetensors``), each in the linear or the conv form (official
``levit_c``, timm ``levit_conv_*``: their 1x1 conv weights become linear weights). Classifier
heads and the ``attention_bias_idxs`` buffers are dropped; any other key that is not understood
is an error.

All three sources store the bias tables as ``heads x R^2`` with index ``|dy| * R + |dx|``,
which is mmattn's layout too, so tables are copied unchanged.
``tools/model_converters/levit2mmattn.py`` is the command line.

:func:`convert_levit_classifier` keeps the two classifier heads (class and distillation token
heads, BN + Linear each, averaged at test time) for an ImageNet evaluation with mmpretrain's
``ImageClassifier`` + ``LeViTClsHead`` (``configs/levit256_in1k_eval.py``).
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch

from .checkpoint import strip_prefix

__all__ = ['convert_levit', 'convert_levit_classifier', 'detect_format']

Unit = Tuple[tuple, str]  # (position in the network, kind: 'attn' | 'shrink' | 'mlp')

# canonical leaf names of each source, per unit kind: source sub-key prefix -> ours
_LEAVES = {
    'official': {
        'attn': {'qkv.c.': 'qkv.linear.', 'qkv.bn.': 'qkv.bn.', 'proj.1.c.': 'proj.linear.',
                 'proj.1.bn.': 'proj.bn.'},
        'shrink': {'kv.c.': 'kv.linear.', 'kv.bn.': 'kv.bn.', 'q.1.c.': 'q.linear.',
                   'q.1.bn.': 'q.bn.', 'proj.1.c.': 'proj.linear.', 'proj.1.bn.': 'proj.bn.'},
        'mlp': {'0.c.': 'fc1.linear.', '0.bn.': 'fc1.bn.', '2.c.': 'fc2.linear.',
                '2.bn.': 'fc2.bn.'},
    },
    'timm': {
        'attn': {'qkv.': 'qkv.', 'proj.ln.': 'proj.'},
        'shrink': {'kv.': 'kv.', 'q.ln.': 'q.', 'proj.ln.': 'proj.'},
        'mlp': {'ln1.': 'fc1.', 'ln2.': 'fc2.'},
    },
    'mmpretrain': {
        'attn': {'qkv.': 'qkv.', 'proj.1.': 'proj.'},
        'shrink': {'kv.': 'kv.', 'q.1.': 'q.', 'proj.1.': 'proj.'},
        'mlp': {'linear1.': 'fc1.', 'linear2.': 'fc2.'},
    },
}
_SKIPPED = re.compile(r'^(head|head_dist)\.|attention_bias_idxs$')


def detect_format(state_dict: Dict[str, torch.Tensor]) -> str:
    """'official' | 'timm' | 'mmpretrain' | 'mmattn', from the stem's first key."""
    markers = {
        'patch_embed.0.c.weight': 'official',
        'stem.conv1.linear.weight': 'timm',
        'patch_embed.patch_embed.0.conv.weight': 'mmpretrain',
        'stem.conv1.conv.weight': 'mmattn',
    }
    for key, name in markers.items():
        if key in state_dict:
            return name
    raise ValueError('convert_levit: not a LeViT checkpoint of the official code, timm, '
                     'mmpretrain or mmattn (no stem key among '
                     f'{sorted(markers)}; first keys: {sorted(state_dict)[:5]})')


def _split_official(key: str) -> Optional[Tuple[Unit, str]]:
    match = re.match(r'blocks\.(\d+)\.(m\.)?(.+)$', key)
    if match is None:
        return None
    index, residual, rest = int(match[1]), match[2], match[3]
    if residual is None:
        kind = 'shrink'
    else:
        kind = 'mlp' if re.match(r'[02]\.', rest) else 'attn'
    return ((index, ), kind), rest


def _split_timm(key: str) -> Optional[Tuple[Unit, str]]:
    match = re.match(r'stages\.(\d+)\.downsample\.(attn_downsample|mlp)\.(.+)$', key)
    if match is not None:
        stage, part, rest = int(match[1]), match[2], match[3]
        kind = 'shrink' if part == 'attn_downsample' else 'mlp'
        return ((stage, 0, 0, int(kind == 'mlp')), kind), rest
    match = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.(attn|mlp)\.(.+)$', key)
    if match is None:
        return None
    stage, block, part, rest = int(match[1]), int(match[2]), match[3], match[4]
    return ((stage, 1, block, int(part == 'mlp')), part), rest


def _split_mmpretrain(key: str) -> Optional[Tuple[Unit, str]]:
    match = re.match(r'stages\.(\d+)\.(\d+)\.(block\.)?(.+)$', key)
    if match is None:
        return None
    stage, index, residual, rest = int(match[1]), int(match[2]), match[3], match[4]
    if residual is None:
        kind = 'shrink'
    else:
        kind = 'mlp' if rest.startswith('linear') else 'attn'
    return ((stage, index), kind), rest


_SPLITTERS: Dict[str, Callable[[str], Optional[Tuple[Unit, str]]]] = {
    'official': _split_official, 'timm': _split_timm, 'mmpretrain': _split_mmpretrain}
_STEMS = {
    'official': r'patch_embed\.(\d)\.(c|bn)\.(.+)$',
    'timm': r'stem\.conv(\d)\.(linear|bn)\.(.+)$',
    'mmpretrain': r'patch_embed\.patch_embed\.(\d)\.(conv|bn)\.(.+)$',
}


def _stem_key(fmt: str, key: str) -> Optional[str]:
    match = re.match(_STEMS[fmt], key)
    if match is None:
        return None
    number = int(match[1]) if fmt == 'timm' else int(match[1]) // 2 + 1
    part = 'bn' if match[2] == 'bn' else 'conv'
    return f'stem.conv{number}.{part}.{match[3]}'


def _leaf(fmt: str, kind: str, rest: str) -> Optional[str]:
    if rest == 'attention_biases' and kind != 'mlp':
        return rest
    for source, ours in _LEAVES[fmt][kind].items():
        if rest.startswith(source):
            return ours + rest[len(source):]
    return None


def convert_levit(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Map a LeViT state dict of any supported source onto ``mmattn.LeViT`` keys.

    Raises:
        ValueError: unknown format or keys this converter does not understand (listed).
    """
    state_dict = strip_prefix(state_dict, 'backbone.')
    fmt = detect_format(state_dict)
    if fmt == 'mmattn':
        return OrderedDict(state_dict)
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    units: Dict[tuple, str] = {}
    leaves: Dict[tuple, List[Tuple[str, torch.Tensor]]] = {}
    unknown = []
    for key, value in state_dict.items():
        if _SKIPPED.search(key):
            continue
        stem = _stem_key(fmt, key)
        if stem is not None:
            converted[stem] = value
            continue
        split = _SPLITTERS[fmt](key)
        leaf = None if split is None else _leaf(fmt, split[0][1], split[1])
        if leaf is None:
            unknown.append(key)
            continue
        (position, kind), _ = split
        units[position] = kind
        if leaf.endswith('linear.weight') and value.dim() == 4:
            value = value.flatten(1)  # conv form: 1x1 conv weight (out, in, 1, 1) -> (out, in)
        leaves.setdefault(position, []).append((leaf, value))
    if unknown:
        raise ValueError(f'convert_levit: {len(unknown)} {fmt} keys not understood: '
                         f'{unknown[:8]}{" ..." if len(unknown) > 8 else ""}')
    # Walk the units in network order: a shrink opens a new stage, attention opens a block and an
    # MLP belongs to the block before it (attn, mlp, attn, mlp, ... | shrink, mlp, attn, ...).
    stage, block = 0, -1
    for position in sorted(units):
        kind = units[position]
        if kind == 'shrink':
            stage, block = stage + 1, 0
        elif kind == 'attn':
            block += 1
        part = 'mlp' if kind == 'mlp' else 'attn'
        for leaf, value in leaves[position]:
            converted[f'stages.{stage}.{block}.{part}.{leaf}'] = value
    return converted


# classifier-head leaves of each source -> mmpretrain LeViTClsHead's (BatchNormLinear: bn, linear)
_HEAD_LEAVES = {'official': {'bn.': 'bn.', 'l.': 'linear.'},
                'timm': {'bn.': 'bn.', 'linear.': 'linear.'},
                'mmpretrain': {'bn.': 'bn.', 'linear.': 'linear.'}}


def convert_levit_classifier(
        state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """A whole ImageNet LeViT (backbone and both heads) as mmpretrain's ``ImageClassifier`` with
    an ``mmattn.LeViT`` backbone and a ``LeViTClsHead``: ``backbone.*`` (:func:`convert_levit`)
    and ``head.head.*`` / ``head.head_dist.*``.

    Raises:
        ValueError: what :func:`convert_levit` raises, or a head (class or distillation) that is
            missing or has keys not understood (listed).
    """
    backbone = convert_levit(state_dict)
    fmt = detect_format(strip_prefix(state_dict, 'backbone.'))
    if fmt == 'mmattn':
        raise ValueError('convert_levit_classifier: an mmattn.LeViT checkpoint holds no '
                         'classifier heads; convert the official, timm or mmpretrain file')
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict(
        (f'backbone.{key}', value) for key, value in backbone.items())
    unknown, found = [], set()
    for key, value in state_dict.items():
        match = re.match(r'^(?:head\.)?(head|head_dist)\.(.+)$', key)
        if match is None or key.startswith('backbone.'):
            continue
        head, rest = match[1], match[2]
        leaf = next((ours + rest[len(theirs):] for theirs, ours in _HEAD_LEAVES[fmt].items()
                     if rest.startswith(theirs)), None)
        if leaf is None:
            unknown.append(key)
            continue
        converted[f'head.{head}.{leaf}'] = value
        found.add(head)
    if unknown or found != {'head', 'head_dist'}:
        raise ValueError(f'convert_levit_classifier: {fmt} checkpoint with classifier keys not '
                         f'understood {unknown} or heads missing (found {sorted(found)}, need '
                         "['head', 'head_dist']: the distilled LeViT)")
    return converted
