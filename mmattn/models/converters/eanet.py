"""The authors' EANet checkpoints -> mmseg ``EncoderDecoder`` keys (plain PyTorch).

Source: MenghaoGuo/EANet, ``model_torch.py``. Its ``EANet`` is a ``{'net': state_dict}`` file
(``train_torch.py`` saves ``net.module.state_dict()``; a ``module.`` prefix is accepted too) of

    extractor.0      stem: 3x3 convs 3->64 (stride 2), 64->64, 64->128; BNs at .1 and .4
    extractor.1      BN(128) after the stem
    extractor.4..7   layer1..layer4 (torchvision Bottleneck names)
    fc0              ConvBNReLU 2048->512, 3x3 (.conv, .bn)
    linu             External_attention(512): conv1 (1x1, bias), linear_0 (Conv1d 512->64),
                     linear_1 (Conv1d 64->512), conv2.0 (1x1 conv) and conv2.1 (BN)
    fc1.0            ConvBNReLU 512->256, 3x3
    fc2              Conv2d 256->classes, 1x1, bias

The target is ``configs/eanet_r101_voc12aug_official.py``: mmseg ``ResNetV1c`` with
``stem_channels=128`` (``backbone.stem.{0,1,3,4,6,7}``, ``backbone.layer*`` with the same block
names) and ``mmattn.EAHead`` (``decode_head.in_conv`` / ``ea.{in_proj, memory_keys,
memory_values, out_proj, out_norm}`` / ``out_conv`` / ``conv_seg``). Every official module has
the same tensor layout as its mmseg counterpart (no conv bias in front of a BN, Conv1d memories
in both), so tensors are copied unchanged; ``linu.linear_1.weight`` is made contiguous (the
official code creates it as a permuted view of ``linear_0``'s weight, and a saved copy may keep
those strides).

The ImageNet ResNets the official code starts from (PyTorch-Encoding's ``resnet50-ebb6acbb`` /
``resnet101-2a57e44d``: the same ``conv1.*`` / ``bn1`` / ``layer*`` names, plus the ImageNet
classifier ``fc``) convert with :func:`convert_resnet_deep_stem` for ``pretrained=``.
"""
from collections import OrderedDict
from typing import Dict, Iterator, List, Tuple

import torch

from .checkpoint import load_state_dict, strip_prefix

__all__ = ['convert_eanet', 'convert_resnet_deep_stem', 'load_eanet_checkpoint']

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

_CONV = ('weight', )
_CONV_BIAS = ('weight', 'bias')
_BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
# The official SyncBN (vacancy's Synchronized-BatchNorm) saves num_batches_tracked only with
# torch >= 0.4.1; where it is absent it is filled with 0 (it is unused when momentum is set).
_OPTIONAL = 'num_batches_tracked'
# The official ResNet's ImageNet classifier: loaded by the official code but unused by EANet.
_IMAGENET_CLASSIFIER = ('fc.weight', 'fc.bias')

Entry = Tuple[str, str, Tuple[str, ...]]  # (official module, our module, tensor names)


def _resnet_entries(depth: int, src: Dict[str, str], dst: str) -> Iterator[Entry]:
    """Module table of the deep-stem ResNet. ``src`` names the stem conv / stem BN / stage
    prefixes of the source, ``dst`` is our prefix."""
    if depth not in STAGE_BLOCKS:
        raise ValueError(f'EANet converter: depth must be one of {sorted(STAGE_BLOCKS)}, '
                         f'got {depth}')
    for index in (0, 3, 6):  # conv 3->64 (stride 2), conv 64->64, conv 64->128
        yield f"{src['stem']}.{index}", f'{dst}stem.{index}', _CONV
    for index in (1, 4):
        yield f"{src['stem']}.{index}", f'{dst}stem.{index}', _BN
    yield src['stem_bn'], f'{dst}stem.7', _BN  # the official bn1 after the stem
    for stage, blocks in enumerate(STAGE_BLOCKS[depth]):
        for block in range(blocks):
            ours = f'{dst}layer{stage + 1}.{block}'
            theirs = f"{src['stages'][stage]}.{block}"
            for part in (1, 2, 3):
                yield f'{theirs}.conv{part}', f'{ours}.conv{part}', _CONV
                yield f'{theirs}.bn{part}', f'{ours}.bn{part}', _BN
            if block == 0:  # every first block projects (64*4 != 128 in layer1, stride 2 ...)
                yield f'{theirs}.downsample.0', f'{ours}.downsample.0', _CONV
                yield f'{theirs}.downsample.1', f'{ours}.downsample.1', _BN


def _eanet_entries(depth: int) -> Iterator[Entry]:
    extractor = dict(stem='extractor.0', stem_bn='extractor.1',
                     stages=[f'extractor.{index}' for index in (4, 5, 6, 7)])
    yield from _resnet_entries(depth, extractor, 'backbone.')
    head = 'decode_head.'
    yield 'fc0.conv', f'{head}in_conv.conv', _CONV
    yield 'fc0.bn', f'{head}in_conv.bn', _BN
    yield 'linu.conv1', f'{head}ea.in_proj', _CONV_BIAS
    yield 'linu.linear_0', f'{head}ea.memory_keys', _CONV
    yield 'linu.linear_1', f'{head}ea.memory_values', _CONV
    yield 'linu.conv2.0', f'{head}ea.out_proj', _CONV
    yield 'linu.conv2.1', f'{head}ea.out_norm', _BN
    yield 'fc1.0.conv', f'{head}out_conv.conv', _CONV
    yield 'fc1.0.bn', f'{head}out_conv.bn', _BN
    yield 'fc2', f'{head}conv_seg', _CONV_BIAS


def _stage_blocks(state_dict: Dict[str, torch.Tensor], stages: List[str]) -> Tuple[int, ...]:
    """Number of blocks of each stage found in the source keys (``<stage>.<block>.``)."""
    counts = []
    for stage in stages:
        blocks = {key[len(stage) + 1:].split('.')[0] for key in state_dict
                  if key.startswith(f'{stage}.')}
        counts.append(len([block for block in blocks if block.isdigit()]))
    return tuple(counts)


def _convert(state_dict: Dict[str, torch.Tensor], depth: int, stages: List[str],
             entries: List[Entry], ignored: Tuple[str, ...],
             what: str) -> 'OrderedDict[str, torch.Tensor]':
    state_dict = strip_prefix(state_dict, 'module.')
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    used = set(ignored) & set(state_dict)
    missing = []
    for theirs, ours, names in entries:
        for name in names:
            source, target = f'{theirs}.{name}', f'{ours}.{name}'
            if source in state_dict:
                converted[target] = state_dict[source].contiguous()
                used.add(source)
            elif name == _OPTIONAL:
                converted[target] = torch.zeros((), dtype=torch.long)
            else:
                missing.append(f'{target} (from {source})')
    unknown = sorted(set(state_dict) - used)
    if missing or unknown:
        lines = [f'{what}: the checkpoint does not match the official ResNet-{depth} model']
        found = _stage_blocks(state_dict, stages)
        other = [d for d, blocks in STAGE_BLOCKS.items() if blocks == found and d != depth]
        if other:
            lines.append(f'Its stages have {found} blocks: a ResNet-{other[0]}; convert it with '
                         f'depth={other[0]} (--depth {other[0]}).')
        if unknown:
            lines.append(f'{len(unknown)} source keys not understood: {unknown}')
        if missing:
            lines.append(f'{len(missing)} target keys have no source: {missing}')
        raise ValueError('\n'.join(lines))
    return converted


def convert_eanet(state_dict: Dict[str, torch.Tensor],
                  depth: int = 101) -> 'OrderedDict[str, torch.Tensor]':
    """Map the official ``model_torch.EANet`` state dict onto our ``EncoderDecoder`` keys.

    Args:
        state_dict (dict): the official ``obj['net']`` (with or without ``module.``).
        depth (int): ResNet depth of the official model (``settings.N_LAYERS``). Default: 101.

    Returns:
        OrderedDict: ``backbone.*`` and ``decode_head.*`` tensors, for
        ``configs/eanet_r101_voc12aug_official.py`` (or its R50 equivalent).

    Raises:
        ValueError: listing every source key that was not understood and every target key that
            has no source (and the depth to use when the stages have another depth's blocks).
    """
    stages = [f'extractor.{index}' for index in (4, 5, 6, 7)]
    return _convert(state_dict, depth, stages, list(_eanet_entries(depth)), (), 'convert_eanet')


def convert_resnet_deep_stem(state_dict: Dict[str, torch.Tensor],
                             depth: int = 101) -> 'OrderedDict[str, torch.Tensor]':
    """Map the official code's ImageNet ResNet (64-64-128 stem) onto mmseg ``ResNetV1c`` keys.

    For ``model.pretrained`` of the configs that follow the authors' protocol
    (``ResNetV1c(stem_channels=128)``). The ImageNet classifier ``fc.*`` is dropped.

    Raises:
        ValueError: as :func:`convert_eanet`.
    """
    stages = ['layer1', 'layer2', 'layer3', 'layer4']
    entries = list(_resnet_entries(depth, dict(stem='conv1', stem_bn='bn1', stages=stages), ''))
    return _convert(state_dict, depth, stages, entries, _IMAGENET_CLASSIFIER,
                    'convert_resnet_deep_stem')


def load_eanet_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """Read an official file: ``(state_dict, kind)``, kind ``'eanet'`` or ``'resnet'``.

    ``{'net': state_dict, 'step': int}`` (``train_torch.py``) is an EANet; a bare state dict
    with ``fc.weight`` (the ImageNet ResNet the official code starts from) is a ResNet.

    Raises:
        ValueError: the file is neither.
    """
    state_dict = strip_prefix(load_state_dict(path), 'module.')  # unwraps {'net': ...}
    if any(key.startswith('extractor.') for key in state_dict):
        return state_dict, 'eanet'
    if 'conv1.0.weight' in state_dict:
        return state_dict, 'resnet'
    raise ValueError(f"{path}: neither an official EANet ({{'net': ...}} with extractor.* keys) "
                     'nor its ImageNet ResNet (conv1.0.weight, layer*, fc.*); first keys: '
                     f'{sorted(state_dict)[:5]}')
