"""LeViT configs: local pretrained weights, channels that match the backbone, and smoke runs."""
import math
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
SEG_CONFIG = 'upernet_levit256_ade20k.py'
DET_CONFIG = 'retinanet_levit256_fpn_1x_coco.py'
CONFIGS = [SEG_CONFIG, DET_CONFIG]


def _load(name: str) -> Config:
    return Config.fromfile(str(ROOT / 'configs' / name))


@pytest.mark.parametrize('name', CONFIGS)
def test_config_reads_the_converted_levit_256_checkpoint_from_a_local_file(name):
    cfg = _load(name)
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch) == ('mmattn.LeViT', '256')
    assert backbone.init_cfg == dict(type='Pretrained',
                                     checkpoint='checkpoints/levit-256_mmattn.pth')


def test_segmentation_heads_read_the_backbone_channels():
    import mmattn  # noqa: F401
    from mmseg.registry import MODELS
    cfg = _load(SEG_CONFIG)
    backbone = MODELS.build(dict(cfg.model.backbone, init_cfg=None))
    assert cfg.model.decode_head.in_channels == backbone.out_channels
    aux = cfg.model.auxiliary_head
    assert aux.in_channels == backbone.out_channels[aux.in_index]


def test_detection_fpn_reads_the_backbone_channels_and_feeds_five_anchor_levels():
    import mmattn  # noqa: F401
    from mmdet.registry import MODELS
    cfg = _load(DET_CONFIG)
    backbone = MODELS.build(dict(cfg.model.backbone, init_cfg=None))
    assert cfg.model.neck.in_channels == backbone.out_channels
    strides = [2**(i + 2) for i in backbone.out_indices]
    extra = cfg.model.neck.num_outs - (len(strides) - cfg.model.neck.start_level)
    levels = strides[cfg.model.neck.start_level:] + [strides[-1] * 2**(i + 1) for i in range(extra)]
    assert levels == cfg.model.bbox_head.anchor_generator.strides


@pytest.mark.slow
# training form tested under bf16 autocast (plain float32 runs in the unit tests), deploy form both
@pytest.mark.parametrize('name,deploy,amp', [(SEG_CONFIG, False, True), (SEG_CONFIG, True, False),
                                             (DET_CONFIG, True, False)])
def test_config_trains_one_iteration_and_tests_on_synthetic_data(name, deploy, amp, tmp_path,
                                                                 synthetic_root):
    from mmattn.apis import run_smoke_test
    cfg = _load(name)
    if name == DET_CONFIG:  # after one iteration no score passes 0.05: keep every box
        cfg.model.test_cfg.score_thr = 0.0
    result = run_smoke_test(cfg, str(tmp_path), deploy=deploy, amp=amp, data_root=synthetic_root)
    assert math.isfinite(result['train_loss'])
    metric = 'coco/bbox_mAP' if name == DET_CONFIG else 'mIoU'
    assert math.isfinite(result['metrics'][metric])
    backbone = result['runner'].model.backbone
    assert backbone.deploy is deploy
