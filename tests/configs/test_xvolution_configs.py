"""X-volution configs: stage-3 placement, local checkpoints, one train iteration + test each."""
import math
from pathlib import Path

import pytest
from mmengine.config import Config

from conftest import keep_every_detection

ROOT = Path(__file__).resolve().parents[2]
DET_CONFIGS = [
    'mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py', 'mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py',
    'faster_rcnn_xvolution_pssa_r50_fpn_1x_coco.py'
]
SEG_CONFIGS = ['pspnet_xvolution_pssa_r50_d8_ade20k.py']
ALL_CONFIGS = DET_CONFIGS + SEG_CONFIGS


def _load(name: str) -> Config:
    return Config.fromfile(str(ROOT / 'configs' / name))


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_reads_pretrained_weights_from_local_files(name):
    cfg = _load(name)
    checkpoint = (cfg.model.pretrained if name in SEG_CONFIGS else
                  cfg.model.backbone.init_cfg.checkpoint)
    assert checkpoint in ('checkpoints/resnet50-0676ba61.pth',
                          'checkpoints/resnet50_v1c-2cccc1ad.pth')


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_replaces_only_the_stage_3_convs_by_xvolution(name):
    backbone = _load(name).model.backbone
    assert backbone.depth == 50
    assert tuple(backbone.stage_with_dcn) == (False, False, True, False)
    assert backbone.dcn.type == 'mmattn.XVolution'
    expected = 'sa' if '_sa_' in name else 'pssa'
    assert backbone.dcn.attention == expected
    # ResNet's bn2 follows conv2: it is the conv branch's BN, pretrained bn2 weights keep meaning.
    assert backbone.dcn.conv_norm is False and backbone.dcn.zero_init_attention is True


def test_sa_config_drops_the_pssa_options_it_inherits():
    dcn = _load('mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py').model.backbone.dcn
    assert not {'directions', 'product', 'normalize'} & set(dcn)


@pytest.mark.parametrize('name', DET_CONFIGS)
def test_detection_configs_keep_the_mmdet_1x_recipe(name):
    cfg = _load(name)
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.model.backbone.norm_eval is True


def test_segmentation_config_is_the_mmseg_pspnet_r50_d8_80k_recipe_with_dilated_stage_3():
    cfg = _load('pspnet_xvolution_pssa_r50_d8_ade20k.py')
    assert cfg.model.backbone.type == 'ResNetV1c'
    assert tuple(cfg.model.backbone.dilations) == (1, 1, 2, 4)
    assert cfg.model.decode_head.type == 'PSPHead' and cfg.model.decode_head.num_classes == 150
    assert cfg.train_cfg.max_iters == 80000


@pytest.mark.slow
@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_trains_in_training_form_and_tests_in_deploy_form(name, tmp_path,
                                                                   synthetic_root):
    """One run covers both forms: training + validation in the training form, then the test in
    the deploy form (the smoke runner's deploy hook converts the model before testing)."""
    from mmattn.apis import run_smoke_test

    cfg = _load(name)
    keep_every_detection(cfg)
    result = run_smoke_test(cfg, str(tmp_path), deploy=True, data_root=synthetic_root)
    assert math.isfinite(result['train_loss'])
    metrics = result['metrics']
    if name in SEG_CONFIGS:
        assert math.isfinite(metrics['mIoU'])
    else:
        assert math.isfinite(metrics['coco/bbox_mAP'])
        if 'mask_rcnn' in name:
            assert math.isfinite(metrics['coco/segm_mAP'])
    convs = [m for m in result['runner'].model.modules() if type(m).__name__ == 'XVolution']
    assert len(convs) == 6  # the six Bottlenecks of ResNet-50 stage 3
    assert all(conv.deploy for conv in convs)


@pytest.mark.slow
def test_pssa_config_trains_under_bf16_autocast(tmp_path):
    from mmattn.apis import run_smoke_test

    # The segmentation config: on CPU, mmcv's NMS of the detectors rejects bf16 boxes.
    result = run_smoke_test(_load('pspnet_xvolution_pssa_r50_d8_ade20k.py'), str(tmp_path),
                            amp=True)
    assert math.isfinite(result['train_loss'])
