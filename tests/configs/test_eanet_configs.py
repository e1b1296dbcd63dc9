"""EANet / Mask R-CNN EA configs: the recipes they state, and one train iteration + test each."""
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
    'eanet_r101_cityscapes.py', 'eanet_r50_voc12aug.py', 'eanet_r101_voc12aug.py',
    'eanet_r50_voc12aug_trainval.py', 'eanet_r101_voc12aug_trainval.py'
]
DET_CONFIGS = ['mask_rcnn_ea_r50_fpn_1x_coco.py', 'mask_rcnn_ea_r101_fpn_1x_coco.py']
ALL_CONFIGS = SEG_CONFIGS + DET_CONFIGS


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Config:
    """Parsed once per session; tests only read it (the smoke test gets a copy)."""
    return Config.fromfile(str(ROOT / 'configs' / name))


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_reads_pretrained_weights_from_local_files(name):
    cfg = _load(name)
    if name in SEG_CONFIGS:
        depth = cfg.model.backbone.depth
        assert cfg.model.pretrained == f'checkpoints/resnet{depth}_v1c-' + (
            '2cccc1ad.pth' if depth == 50 else 'e67eebb6.pth')
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
    assert cfg.model.auxiliary_head.type == 'FCNHead'
    assert head.num_classes == cfg.model.auxiliary_head.num_classes


@pytest.mark.parametrize('name', ['eanet_r50_ade20k.py', 'eanet_r101_ade20k.py'])
def test_ade20k_recipe_is_160k_iterations_of_16_crops_of_512_on_8_gpus(name):
    cfg = _load(name)
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.crop_size == (512, 512) and cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    (poly,) = cfg.param_scheduler
    assert poly.type == 'PolyLR' and poly.power == 0.9 and poly.end == 160000
    assert cfg.optim_wrapper.optimizer.lr == 0.01


@pytest.mark.parametrize('name', ['eanet_r50_cityscapes.py', 'eanet_r101_cityscapes.py'])
def test_cityscapes_recipe_is_80k_iterations_with_769_crops_and_sliding_test(name):
    cfg = _load(name)
    assert cfg.model.decode_head.num_classes == 19
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.crop_size == (769, 769)
    assert cfg.model.decode_head.align_corners and cfg.model.auxiliary_head.align_corners
    assert cfg.model.test_cfg.mode == 'slide'


def test_voc_stage_two_fine_tunes_stage_one_on_trainval_and_formats_the_test_set():
    stage1, stage2 = _load('eanet_r101_voc12aug.py'), _load('eanet_r101_voc12aug_trainval.py')
    assert stage1.train_dataloader.dataset.type == 'ConcatDataset'  # train + SBD aug
    assert stage2.train_dataloader.dataset.ann_file == 'ImageSets/Segmentation/trainval.txt'
    assert stage2.load_from == 'work_dirs/eanet_r101_voc12aug/iter_40000.pth'
    assert stage2.optim_wrapper.optimizer.lr < stage1.optim_wrapper.optimizer.lr
    assert stage2.test_dataloader.dataset.ann_file == 'ImageSets/Segmentation/test.txt'
    assert stage2.test_evaluator.format_only
    loads = [t for t in stage2.test_pipeline if t.type == 'LoadAnnotations']
    assert not loads  # the test set has no labels


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_tta_is_multi_scale_and_flip_for_tools_test_tta(name):
    cfg = _load(name)
    assert cfg.tta_model.type == 'SegTTAModel'
    (tta,) = [t for t in cfg.tta_pipeline if t.type == 'TestTimeAug']
    scales = [t.scale_factor for t in tta.transforms[0]]
    flips = [t.prob for t in tta.transforms[1]]
    assert len(scales) >= 3 and 1.0 in scales and min(scales) < 1 < max(scales)
    assert sorted(flips) == [0.0, 1.0]


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
    for key in ('test_evaluator', ):
        flat[key].pop('output_dir', None)
    return flat


@pytest.mark.parametrize('r101', [name for name in ALL_CONFIGS if 'r101' in name])
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
