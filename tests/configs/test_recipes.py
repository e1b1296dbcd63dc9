"""Recipe values of every config, traced to their source in docs/recipes.md.

Each config has a table in docs/recipes.md whose rows name a key path into the merged config
(mmengine ``Config.fromfile``: every ``mmdet::``/``mmseg::`` base resolved) and our value; the
tests below read the table and compare each row with the config, so the document and the
configs cannot drift apart. A row whose source value differs from ours must be explained under
its table. Explicit pins of the values a long run depends on follow at the end.

Key paths: ``a.b.c`` (dict keys), ``a[0]`` (list index), ``a[type=X]`` (the list element whose
``type`` is X), ``a[*].b`` (``b`` of every element), a trailing ``?`` (None when the last step
names nothing, instead of an error), and ``p * q`` / ``p / q`` of two paths.
"""
import ast
import functools
import math
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / 'docs' / 'recipes.md'
HEADER = ['hyper-parameter', 'key', 'source value', 'ours', 'source']

# The configs this table set covers (the EANet segmentation configs have their own section).
TRACED_CONFIGS = [
    'mask_rcnn_lambda_r50_fpn_1x_coco.py', 'mask_rcnn_lambda_r101_fpn_1x_coco.py',
    'mask_rcnn_lambda_r101_fpn_lsj_1024_200e_coco.py', 'fcn_lambda_r50_d8_ade20k.py',
    'mask_rcnn_ea_r50_fpn_1x_coco.py', 'mask_rcnn_ea_r101_fpn_1x_coco.py',
    'mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py', 'mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py',
    'faster_rcnn_xvolution_pssa_r50_fpn_1x_coco.py', 'pspnet_xvolution_pssa_r50_d8_ade20k.py',
    'upernet_levit256_ade20k.py', 'retinanet_levit256_fpn_1x_coco.py',
    # the ImageNet stage (mmpretrain)
    'lambda_resnet50_8xb32_in1k.py', 'lambda_resnet101_8xb32_in1k.py',
    'xvolution_pssa_resnet50_8xb32_in1k.py', 'xvolution_sa_resnet50_8xb32_in1k.py',
    'levit256_in1k_eval.py'
]
# stage 2 of the two-stage pipelines: its torchvision-started config with the stage-1 checkpoint
# as the backbone's init (and, for LambdaResNet, the lambda layers' BN statistics frozen like the
# others'), nothing else changed
STAGE2_CONFIGS = {
    'mask_rcnn_lambda_r50-in1k_fpn_1x_coco.py': ('mask_rcnn_lambda_r50_fpn_1x_coco.py',
                                                 'lambda_resnet50_8xb32_in1k'),
    'mask_rcnn_lambda_r101-in1k_fpn_1x_coco.py': ('mask_rcnn_lambda_r101_fpn_1x_coco.py',
                                                  'lambda_resnet101_8xb32_in1k'),
    'mask_rcnn_xvolution_pssa_r50-in1k_fpn_1x_coco.py': (
        'mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py', 'xvolution_pssa_resnet50_8xb32_in1k'),
    'mask_rcnn_xvolution_sa_r50-in1k_fpn_1x_coco.py': (
        'mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py', 'xvolution_sa_resnet50_8xb32_in1k'),
}

_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Reading docs/recipes.md


def _literal(cell: str) -> Any:
    """The Python value of a cell that is one code span (`...`), else _MISSING (free text)."""
    match = re.fullmatch(r'`([^`]+)`', cell.strip())
    if not match:
        return _MISSING
    try:
        return ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return _MISSING


def _cells(line: str) -> List[str]:
    return [cell.strip() for cell in line.strip().strip('|').split('|')]


@functools.lru_cache(maxsize=None)
def parse_recipes(text: str) -> Dict[str, Dict[str, Any]]:
    """``{config file name: {'rows': [row dicts], 'explained': set of bold names}}``.

    A table starts at a heading ``### `configs/NAME.py` ``; the bullets and paragraphs after it,
    up to the next heading, explain its deviations (names in **bold**).
    """
    tables: Dict[str, Dict[str, Any]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r'#{2,4} ', line)
        if heading:
            named = re.fullmatch(r'### `configs/([\w.-]+\.py)`\s*', line)
            current = None
            if named:
                if named.group(1) in tables:
                    raise ValueError(f'docs/recipes.md: two tables for {named.group(1)}')
                current = tables[named.group(1)] = dict(rows=[], explained=set(), header=None)
            continue
        if current is None:
            continue
        if line.startswith('|'):
            cells = _cells(line)
            if current['header'] is None:
                current['header'] = cells
            elif not set(''.join(cells)) <= set('-: '):
                if len(cells) != len(HEADER):
                    raise ValueError(f'docs/recipes.md: row with {len(cells)} cells, expected '
                                     f'{len(HEADER)}: {line}')
                current['rows'].append(dict(zip(HEADER, cells)))
        else:
            current['explained'].update(re.findall(r'\*\*([^*]+)\*\*', line))
    return tables


def _tables() -> Dict[str, Dict[str, Any]]:
    return parse_recipes(RECIPES.read_text())


# ---------------------------------------------------------------------------------------------
# Resolving key paths in a merged config


def _plain(value: Any) -> Any:
    """Config values as plain lists / dicts / scalars, without mmengine's ``_scope_`` marks."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_TOKEN = re.compile(r'(\.?)([A-Za-z_]\w*)|\[([^\]]+)\]')


def _steps(path: str) -> List[str]:
    """``'a.b[0][type=X]'`` -> ``['a', 'b', '[0]', '[type=X]']``; anything else is an error."""
    steps, pos = [], 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        # a name needs a dot before it, except the first
        if not match or (match.group(2) and (match.group(1) == '') != (pos == 0)):
            raise ValueError(f'recipe key {path!r} is not of the form a.b[0][type=X][*].c')
        steps.append(match.group(2) or f'[{match.group(3)}]')
        pos = match.end()
    if not steps:
        raise ValueError('empty recipe key')
    return steps


def _walk(node: Any, steps: List[str], path: str, optional: bool) -> Any:
    if not steps:
        return node
    step, rest = steps[0], steps[1:]
    if step == '[*]':
        return [_walk(item, rest, path, optional) for item in node]
    if step.startswith('[type='):
        wanted = step[len('[type='):-1]
        found = [item for item in node if isinstance(item, dict) and item.get('type') == wanted]
        if not found:
            if optional and not rest:
                return None
            raise KeyError(f'{path}: no element of type {wanted!r} in {node}')
        return _walk(found[0], rest, path, optional)
    if step.startswith('['):
        return _walk(node[int(step[1:-1])], rest, path, optional)
    if not isinstance(node, dict) or step not in node:
        if optional and not rest:
            return None
        have = sorted(node) if isinstance(node, dict) else type(node).__name__
        raise KeyError(f'{path}: {step!r} not found (have {have})')
    return _walk(node[step], rest, path, optional)


def resolve(cfg: Dict[str, Any], key: str) -> Any:
    """The value a recipe ``key`` names in a plain config dict (see the module docstring)."""
    key = key.strip().strip('`')
    for op in (' * ', ' / '):
        if op in key:
            left, right = (resolve(cfg, part) for part in key.split(op, 1))
            value = left * right if op == ' * ' else left / right
            return int(value) if float(value).is_integer() else value
    optional = key.endswith('?')
    path = key.rstrip('?')
    return _walk(cfg, _steps(path), path, optional)


def same(a: Any, b: Any) -> bool:
    """Equality of plain values with tuples == lists and floats to 1e-12 relative."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


@functools.lru_cache(maxsize=None)
def merged(name: str) -> Dict[str, Any]:
    return _plain(Config.fromfile(str(ROOT / 'configs' / name)).to_dict())


def _rows():
    rows = []
    for name, table in sorted(_tables().items()):
        for row in table['rows']:
            rows.append(pytest.param(name, row, id=f'{name}:{row["hyper-parameter"]}'))
    return rows


# ---------------------------------------------------------------------------------------------
# The document


def test_the_key_language_reads_lists_types_products_and_optional_keys():
    cfg = dict(a=dict(b=[dict(type='X', v=2), dict(type='Y', v=3)]), n=4)
    assert resolve(cfg, 'a.b[1].v') == 3
    assert resolve(cfg, 'a.b[type=Y].v') == 3
    assert resolve(cfg, 'a.b[*].v') == [2, 3]
    assert resolve(cfg, 'a.b[type=X].v * n') == 8
    assert resolve(cfg, 'a.missing?') is None
    assert resolve(cfg, 'a.b[type=Z]?') is None


@pytest.mark.parametrize('key', ['a.missing', 'a.b[type=Z].v', 'a.missing?.v', 'a..b'])
def test_a_key_that_names_nothing_is_an_error_not_a_silent_none(key):
    cfg = dict(a=dict(b=[dict(type='X', v=2)]))
    with pytest.raises((KeyError, ValueError)):
        resolve(cfg, key)


def test_every_traced_config_has_a_recipe_table_with_its_header():
    tables = _tables()
    missing = [name for name in TRACED_CONFIGS if name not in tables]
    assert not missing, f'docs/recipes.md has no table for {missing}'
    for name in TRACED_CONFIGS:
        assert tables[name]['header'] == HEADER, (name, tables[name]['header'])
        assert len(tables[name]['rows']) >= 15, f'{name}: only {len(tables[name]["rows"])} rows'
        assert (ROOT / 'configs' / name).is_file(), name


def test_the_eanet_segmentation_section_is_left_for_its_own_helper():
    text = RECIPES.read_text()
    assert '## External Attention: segmentation (EANet)' in text


@pytest.mark.parametrize('name,row', _rows())
def test_recipe_row_equals_the_merged_config(name, row):
    ours = _literal(row['ours'])
    assert ours is not _MISSING, f'{name}: "ours" must be one `python literal`: {row["ours"]}'
    actual = resolve(merged(name), row['key'])
    assert same(actual, ours), (
        f'{name}: {row["hyper-parameter"]} ({row["key"]}) is {actual!r} in the config, '
        f'{ours!r} in docs/recipes.md')


@pytest.mark.parametrize('name,row', _rows())
def test_every_departure_from_the_source_is_explained_under_its_table(name, row):
    source, ours = _literal(row['source value']), _literal(row['ours'])
    if source is _MISSING or same(source, ours):
        return
    explained = _tables()[name]['explained']
    assert row['hyper-parameter'] in explained, (
        f'{name}: {row["hyper-parameter"]} departs from its source ({source!r} -> {ours!r}) '
        f'but no **{row["hyper-parameter"]}** bullet under the table explains why')


# ---------------------------------------------------------------------------------------------
# Explicit pins: the values a multi-week run depends on, independent of the document

MMDET_1X = {
    'train_cfg.max_epochs': 12,
    'param_scheduler[1].milestones': [8, 11],
    'param_scheduler[0].end': 500,
    'optim_wrapper.optimizer': dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    'optim_wrapper.paramwise_cfg?': None,
    'train_dataloader.batch_size': 2,
    'auto_scale_lr.base_batch_size': 16,
    'train_dataloader.dataset.pipeline[type=Resize].scale': [1333, 800],
    'test_dataloader.dataset.pipeline[type=Resize].scale': [1333, 800],
    'model.backbone.norm_eval': True,
    'model.backbone.frozen_stages': 1,
}
MMSEG_80K_D8 = {
    'train_cfg.max_iters': 80000,
    'optim_wrapper.optimizer': dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    'param_scheduler[0].power': 0.9,
    'train_dataloader.batch_size': 4,
    'auto_scale_lr.base_batch_size': 16,
    'train_dataloader.dataset.pipeline[type=RandomCrop].crop_size': [512, 512],
    'train_dataloader.dataset.pipeline[type=RandomResize].ratio_range': [0.5, 2.0],
    'model.backbone.dilations': [1, 1, 2, 4],
    'model.backbone.strides': [1, 2, 1, 1],
    'model.backbone.contract_dilation': True,
    'model.backbone.norm_cfg.type': 'SyncBN',
    'model.decode_head.align_corners': False,
    'model.auxiliary_head.loss_decode.loss_weight': 0.4,
}
PINS = {
    'mask_rcnn_lambda_r50_fpn_1x_coco.py': dict(MMDET_1X, **{'model.backbone.depth': 50}),
    'mask_rcnn_lambda_r101_fpn_1x_coco.py': dict(MMDET_1X, **{'model.backbone.depth': 101}),
    'mask_rcnn_ea_r50_fpn_1x_coco.py': dict(MMDET_1X, **{'model.backbone.depth': 50}),
    'mask_rcnn_ea_r101_fpn_1x_coco.py': dict(MMDET_1X, **{'model.backbone.depth': 101}),
    'mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py': MMDET_1X,
    'mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py': MMDET_1X,
    'faster_rcnn_xvolution_pssa_r50_fpn_1x_coco.py': MMDET_1X,
    'mask_rcnn_lambda_r101_fpn_lsj_1024_200e_coco.py': {
        'model.backbone.depth': 101,
        'train_dataloader.dataset.times * train_cfg.max_epochs': 200,
        'param_scheduler[1].milestones': [22, 24],
        'param_scheduler[0].end': 1000,
        'optim_wrapper.type': 'AmpOptimWrapper',
        'optim_wrapper.optimizer': dict(type='SGD', lr=0.08, momentum=0.9, weight_decay=4e-5),
        'train_dataloader.batch_size': 8,
        'auto_scale_lr.base_batch_size': 64,
        'train_dataloader.dataset.dataset.pipeline[type=RandomResize].scale': [1024, 1024],
        'train_dataloader.dataset.dataset.pipeline[type=RandomResize].ratio_range': [0.1, 2.0],
        'train_dataloader.dataset.dataset.pipeline[type=RandomCrop].crop_size': [1024, 1024],
        'model.data_preprocessor.batch_augments[0].size': [1024, 1024],
    },
    'fcn_lambda_r50_d8_ade20k.py': dict(MMSEG_80K_D8, **{'model.backbone.deep_stem': True}),
    'pspnet_xvolution_pssa_r50_d8_ade20k.py': dict(MMSEG_80K_D8,
                                                    **{'model.backbone.type': 'ResNetV1c'}),
    'upernet_levit256_ade20k.py': {
        'train_cfg.max_iters': 160000,
        'optim_wrapper.optimizer': dict(type='AdamW', lr=6e-5, betas=[0.9, 0.999],
                                        weight_decay=0.01),
        'param_scheduler[0].end': 1500,
        'param_scheduler[1].power': 1.0,
        'train_dataloader.batch_size': 2,
        'auto_scale_lr.base_batch_size': 16,
        'train_dataloader.dataset.pipeline[type=RandomCrop].crop_size': [512, 512],
        'model.decode_head.align_corners': False,
        'model.auxiliary_head.loss_decode.loss_weight': 0.4,
    },
    'retinanet_levit256_fpn_1x_coco.py': {
        'train_cfg.max_epochs': 12,
        'param_scheduler[1].milestones': [8, 11],
        'optim_wrapper.optimizer': dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
        'train_dataloader.batch_size': 2,
        'auto_scale_lr.base_batch_size': 16,
        'model.bbox_head.anchor_generator.strides': [8, 16, 32, 64, 128],
    },
}

# mmpretrain's standard ResNet recipe (resnet/resnet50_8xb32_in1k.py and its bases), which the
# ImageNet configs train with (the papers' ImageNet recipes could not be read: docs/recipes.md)
MMPRETRAIN_R50 = {
    'train_cfg.max_epochs': 100,
    'optim_wrapper.optimizer': dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    'optim_wrapper.paramwise_cfg?': None,
    'param_scheduler.type': 'MultiStepLR',
    'param_scheduler.milestones': [30, 60, 90],
    'train_dataloader.batch_size': 32,
    'auto_scale_lr.base_batch_size': 256,
    'model.head.loss': dict(type='CrossEntropyLoss', loss_weight=1.0),
    'custom_hooks?': None,
    'train_dataloader.dataset.pipeline[type=RandomResizedCrop].scale': 224,
    'test_dataloader.dataset.pipeline[type=ResizeEdge].scale': 256,
    'test_dataloader.dataset.pipeline[type=CenterCrop].crop_size': 224,
    'default_scope': 'mmpretrain',
}
XVOLUTION_STAGE3 = {'model.backbone.type': 'mmdet.ResNet', 'model.backbone.norm_eval': False,
                    'model.backbone.stage_with_dcn': [False, False, True, False],
                    'model.backbone.dcn.conv_norm': False}
PINS.update({
    'lambda_resnet50_8xb32_in1k.py': dict(MMPRETRAIN_R50, **{
        'model.backbone.type': 'mmattn.LambdaResNet', 'model.backbone.depth': 50,
        'model.backbone.lambda_preset': 'paper_hybrid'}),
    'lambda_resnet101_8xb32_in1k.py': dict(MMPRETRAIN_R50, **{
        'model.backbone.type': 'mmattn.LambdaResNet', 'model.backbone.depth': 101,
        'model.backbone.lambda_preset': 'paper_hybrid'}),
    'xvolution_pssa_resnet50_8xb32_in1k.py': dict(MMPRETRAIN_R50, **XVOLUTION_STAGE3, **{
        'model.backbone.dcn.attention': 'pssa'}),
    'xvolution_sa_resnet50_8xb32_in1k.py': dict(MMPRETRAIN_R50, **XVOLUTION_STAGE3, **{
        'model.backbone.dcn.attention': 'sa'}),
    'levit256_in1k_eval.py': {
        'default_scope': 'mmpretrain',
        'model.backbone.type': 'mmattn.LeViT',
        'model.backbone.arch': '256',
        'model.head.distillation': True,
        'test_dataloader.dataset.pipeline[type=ResizeEdge].scale': 256,
        'test_dataloader.dataset.pipeline[type=ResizeEdge].interpolation': 'bicubic',
        'test_dataloader.dataset.pipeline[type=CenterCrop].crop_size': 224,
    },
})


@pytest.mark.parametrize('name', sorted(STAGE2_CONFIGS))
def test_stage2_config_is_its_base_with_the_stage1_checkpoint_as_backbone_init(name):
    base, stage1 = STAGE2_CONFIGS[name]
    ours, theirs = merged(name), merged(base)
    backbone, base_backbone = dict(ours['model']['backbone']), dict(theirs['model']['backbone'])
    assert backbone.pop('init_cfg') == dict(
        type='StrictPretrained', checkpoint=f'work_dirs/{stage1}/epoch_100.pth',
        prefix='backbone.')
    assert (ROOT / 'configs' / f'{stage1}.py').is_file()
    base_backbone.pop('init_cfg')
    if 'lambda_norm_eval' in backbone:  # ImageNet statistics now: frozen like every other BN
        assert backbone.pop('lambda_norm_eval') is True
        base_backbone.pop('lambda_norm_eval')
    assert backbone == base_backbone
    rest = {key: value for key, value in ours.items() if key not in ('model', 'filename')}
    base_rest = {key: value for key, value in theirs.items() if key not in ('model', 'filename')}
    assert rest == base_rest
    assert {k: v for k, v in ours['model'].items() if k != 'backbone'} == {
        k: v for k, v in theirs['model'].items() if k != 'backbone'}


def test_every_traced_config_has_explicit_pins():
    assert sorted(PINS) == sorted(TRACED_CONFIGS)


@pytest.mark.parametrize('name,key,value',
                         [(n, k, v) for n, pins in PINS.items() for k, v in pins.items()],
                         ids=lambda x: x if isinstance(x, str) else '')
def test_pinned_recipe_value(name, key, value):
    actual = resolve(merged(name), key)
    assert same(actual, value), f'{name}: {key} is {actual!r}, the recipe says {value!r}'
