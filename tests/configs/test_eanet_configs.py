"""EANet / Mask R-CNN EA configs: structure, and one train iteration + test each.

The recipe values of the segmentation configs are pinned in test_eanet_recipes.py.
"""
import copy
import functools
import math
from pathlib import Path

import pytest
from mmengine.config import Config

from conftest import keep_every_detection

ROOT = Path(__file__).resolve().parents[2]
SEG_CONFIGS = [
    'eanet_r50_ade20k.py', 'eanet_r101_ade20k.py', 'eanet_r50_cityscapes.py',
    'eanet_r101_cityscapes.py', 'eanet_r50_voc12aug_mmseg-40k.py',
    'eanet_r101_voc12aug_mmseg-40k.py', 'eanet_r50_voc12aug.py', 'eanet_r101_voc12aug.py',
    'eanet_r50_voc12aug_trainval.py', 'eanet_r101_voc12aug_trainval.py',
    'eanet_r101_voc12aug_official.py'
]
# The authors' VOC protocol: their ResNet (64-64-128 stem, PyTorch-Encoding ImageNet weights),
# no auxiliary head; the other segmentation configs follow mmseg (ResNetV1c, FCN aux head).
AUTHORS_CONFIGS = [name for name in SEG_CONFIGS if 'voc12aug' in name and 'mmseg' not in name]
DET_CONFIGS = ['mask_rcnn_ea_r50_fpn_1x_coco.py', 'mask_rcnn_ea_r101_fpn_1x_coco.py']
ALL_CONFIGS = SEG_CONFIGS + DET_CONFIGS


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Config:
    """Parsed once per session; tests only read it (the smoke test gets a copy)."""
    return Config.fromfile(str(ROOT / 'configs' / name))


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_reads_pretrained_weights_from_local_files(name):
    cfg = _load(name)
    if name == 'eanet_r101_voc12aug_official.py':
        assert cfg.model.pretrained is None  # every weight comes from the converted checkpoint
    elif name in SEG_CONFIGS:
        assert cfg.model.pretrained.startswith('checkpoints/resnet')
    else:
        assert cfg.model.backbone.init_cfg.checkpoint.startswith('checkpoints/resnet')


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_segmentation_configs_use_the_eanet_head_on_dilated_resnet_v1c(name):
    cfg = _load(name)
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.type == 'ResNetV1c'
    assert cfg.model.backbone.depth == (101 if 'r101' in name else 50)
    assert cfg.model.backbone.strides == (1, 2, 1, 1)  # output stride 8
    head = cfg.model.decode_head
    assert head.type == 'mmattn.EAHead'
    assert (head.in_channels, head.ea_channels, head.channels) == (2048, 512, 256)
    assert head.num_memory == 64 and head.dropout_ratio == 0.1
    if name in AUTHORS_CONFIGS:
        assert cfg.model.auxiliary_head is None
    else:
        assert cfg.model.auxiliary_head.type == 'FCNHead'
        assert head.num_classes == cfg.model.auxiliary_head.num_classes


@pytest.mark.parametrize('name', DET_CONFIGS)
def test_mask_rcnn_configs_put_one_ea_after_the_last_block_of_stage_4(name):
    cfg = _load(name)
    backbone = cfg.model.backbone
    assert backbone.type == 'mmattn.EAResNet'
    assert backbone.depth == (101 if 'r101' in name else 50)
    assert tuple(backbone.ea_stages) == (False, False, False, True)
    assert tuple(backbone.ea_blocks) == (-1, )
    assert backbone.ea_cfg.type == 'ExternalAttentionPlugin' and backbone.ea_cfg.num_memory == 64
    assert cfg.train_cfg.max_epochs == 12


def _without_depth_and_weights(cfg: Config) -> dict:
    flat = copy.deepcopy(cfg.to_dict())
    flat.pop('load_from', None)
    flat['model'].pop('pretrained', None)
    flat['model']['backbone'].pop('depth')
    flat['model']['backbone'].pop('init_cfg', None)
    flat['test_evaluator'].pop('output_dir', None)
    return flat


@pytest.mark.parametrize('r101', [name for name in ALL_CONFIGS
                                  if 'r101' in name and 'official' not in name])
def test_r101_config_is_its_r50_config_with_only_depth_and_weights_changed(r101):
    """So the R50 smoke runs below cover the R101 recipes too (a smoke run costs ~40 s)."""
    r50 = _load(r101.replace('r101', 'r50'))
    assert _without_depth_and_weights(_load(r101)) == _without_depth_and_weights(r50)
    assert _load(r101).model.backbone.depth == 101


@pytest.mark.slow
@pytest.mark.parametrize('name', [name for name in ALL_CONFIGS if 'r50' in name])
def test_config_trains_one_iteration_and_tests_on_synthetic_data(name, tmp_path,
                                                                 synthetic_root):
    from mmattn.apis import run_smoke_test

    cfg = copy.deepcopy(_load(name))
    keep_every_detection(cfg)
    result = run_smoke_test(cfg, str(tmp_path), data_root=synthetic_root)
    assert math.isfinite(result['train_loss'])
    metrics = result['metrics']
    if name in DET_CONFIGS:
        assert math.isfinite(metrics['coco/bbox_mAP']) and math.isfinite(metrics['coco/segm_mAP'])
    elif cfg.test_evaluator.get('format_only'):  # the VOC test server: PNGs, no labels
        assert metrics == {}
        pngs = list((tmp_path / 'outputs' / 'png').glob('*.png'))
        assert len(pngs) == len(result['runner'].test_dataloader.dataset) > 0
    else:
        assert math.isfinite(metrics['mIoU'])
