"""LambdaResNet configs: the recipes they state, and one train iteration + test each."""
import math
from pathlib import Path

import pytest
from mmengine.config import Config

from conftest import keep_every_detection

ROOT = Path(__file__).resolve().parents[2]
DET_1X_CONFIGS = ['mask_rcnn_lambda_r50_fpn_1x_coco.py', 'mask_rcnn_lambda_r101_fpn_1x_coco.py']
LSJ_CONFIG = 'mask_rcnn_lambda_r101_fpn_lsj_1024_200e_coco.py'
SEG_CONFIG = 'fcn_lambda_r50_d8_ade20k.py'
ALL_CONFIGS = DET_1X_CONFIGS + [LSJ_CONFIG, SEG_CONFIG]
DEPTHS = {DET_1X_CONFIGS[0]: 50, DET_1X_CONFIGS[1]: 101, LSJ_CONFIG: 101, SEG_CONFIG: 50}


def _load(name: str) -> Config:
    return Config.fromfile(str(ROOT / 'configs' / name))


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_reads_imagenet_weights_from_local_files(name):
    cfg = _load(name)
    depth = DEPTHS[name]
    if name == SEG_CONFIG:
        assert cfg.model.pretrained == 'checkpoints/resnet50_v1c-2cccc1ad.pth'
    else:
        assert cfg.model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint=f'checkpoints/resnet{depth}-' +
            ('0676ba61.pth' if depth == 50 else '63fe2227.pth'))


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_uses_the_paper_hybrid_lambda_resnet_with_paper_hyper_parameters(name):
    backbone = _load(name).model.backbone
    assert backbone.type == 'mmattn.LambdaResNet' and backbone.depth == DEPTHS[name]
    assert backbone.lambda_preset == 'paper_hybrid'
    assert backbone.lambda_cfg == dict(dim_k=16, heads=4, dim_u=1, r=23)


@pytest.mark.parametrize('name', DET_1X_CONFIGS)
def test_mask_rcnn_1x_configs_keep_mmdets_1x_recipe_of_8_gpus_by_2_images(name):
    cfg = _load(name)
    assert cfg.model.type == 'MaskRCNN'
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.model.backbone.norm_eval and not cfg.model.backbone.lambda_norm_eval


def test_lsj_config_trains_1024_crops_with_large_scale_jitter_for_200_epochs():
    cfg = _load(LSJ_CONFIG)
    resize = [t for t in cfg.train_pipeline if t.type == 'RandomResize'][0]
    crop = [t for t in cfg.train_pipeline if t.type == 'RandomCrop'][0]
    assert resize.scale == (1024, 1024) and resize.ratio_range == (0.1, 2.0)
    assert crop.crop_size == (1024, 1024)
    assert cfg.train_dataloader.dataset.times * cfg.train_cfg.max_epochs == 200
    assert cfg.train_dataloader.batch_size == 8 and cfg.auto_scale_lr.base_batch_size == 64
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_segmentation_config_is_a_deep_stem_dilated_d8_lambda_resnet():
    cfg = _load(SEG_CONFIG)
    backbone = cfg.model.backbone
    assert backbone.deep_stem and backbone.contract_dilation
    assert tuple(backbone.dilations) == (1, 1, 2, 4) and tuple(backbone.strides) == (1, 2, 1, 1)
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.train_cfg.max_iters == 80000


@pytest.mark.slow
@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_trains_one_iteration_and_tests_on_synthetic_data(name, tmp_path,
                                                                 synthetic_root):
    from mmattn.apis import run_smoke_test

    cfg = _load(name)
    keep_every_detection(cfg)
    result = run_smoke_test(cfg, str(tmp_path), data_root=synthetic_root)
    assert math.isfinite(result['train_loss'])
    metrics = result['metrics']
    if name == SEG_CONFIG:
        assert math.isfinite(metrics['mIoU'])
    else:
        assert math.isfinite(metrics['coco/bbox_mAP']) and math.isfinite(metrics['coco/segm_mAP'])
    backbone = result['runner'].model.backbone
    assert len(backbone.lambda_layers()) == {50: 4, 101: 6}[DEPTHS[name]]
