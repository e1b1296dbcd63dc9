"""mmattn.apis.visualize_attention (tools/visualize_attention.py) on tiny EANet and Mask R-CNN
EA models and a synthetic image."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmattn  # noqa: F401  (registers the models)

from mmattn.apis import visualize as visualize_attention

ROOT = Path(__file__).resolve().parents[2]

SEG_CONFIG = f"""
_base_ = '{ROOT}/configs/eanet_r50_ade20k.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, base_channels=8, stem_channels=8, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=64, ea_channels=16, channels=8, num_memory=8,
                     num_classes=4, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=8, num_classes=4, norm_cfg=norm_cfg))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='PackSegInputs'),
]
"""

DET_CONFIG = f"""
_base_ = '{ROOT}/configs/mask_rcnn_ea_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(depth=18, base_channels=8, stem_channels=8, init_cfg=None,
                  ea_cfg=dict(num_memory=8)),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=3),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=3)))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]))
"""


def _files(tmp_path, config_text, scope):
    """Write the config, a checkpoint of the randomly initialised model and an image.

    Returns the paths and the loaded config (parsing an mmseg/mmdet-based config takes seconds).
    """
    config = tmp_path / f'{scope}_tiny.py'
    config.write_text(config_text)
    cfg = Config.fromfile(str(config))
    init_default_scope(scope)
    from mmengine.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for module in model.modules():  # a trained-looking EA: non-zero output norm
        if isinstance(module, mmattn.layers.MultiHeadExternalAttention):
            torch.nn.init.ones_(module.out_norm.weight)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': ('a', 'b', 'c', 'd'),
                                          'palette': [[0, 0, 0]] * 4}}}, checkpoint)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    image[:, :40] //= 4  # some structure for the maps to follow
    image_path = tmp_path / 'scene.jpg'
    cv2.imwrite(str(image_path), image)
    return str(config), str(checkpoint), str(image_path), cfg


@pytest.fixture(scope='module')
def seg_files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp('seg'), SEG_CONFIG, 'mmseg')


def _check_pngs(paths, num_tiles_in_strip):
    *units, strip = paths
    for path in units:
        overlay = cv2.imread(path)
        assert overlay.shape == (60, 80, 3) and overlay.dtype == np.uint8
        assert overlay.std() > 0
    assert cv2.imread(strip).shape == (60, 80 * num_tiles_in_strip, 3)


def test_segmentation_model_writes_one_overlay_per_chosen_unit_and_a_strip(seg_files, tmp_path):
    config, checkpoint, image, _ = seg_files
    out_dir = tmp_path / 'maps'
    written = visualize_attention.visualize_attention(config, checkpoint, image, str(out_dir),
                                                      num_units=3)
    assert list(written) == ['decode_head.ea']
    paths = written['decode_head.ea']
    assert len(paths) == 4 and all(Path(p).parent == out_dir for p in paths)
    _check_pngs(paths, num_tiles_in_strip=4)


def test_explicit_units_are_the_ones_written(seg_files, tmp_path):
    _, checkpoint, image, cfg = seg_files
    written = visualize_attention.visualize_attention(cfg, checkpoint, image, str(tmp_path),
                                                      units=[0, 7])
    names = [Path(p).name for p in written['decode_head.ea'][:-1]]
    assert names == ['scene_decode_head_ea_unit0.png', 'scene_decode_head_ea_unit7.png']


def test_units_outside_the_memory_raise_a_clear_error(seg_files, tmp_path):
    _, checkpoint, image, cfg = seg_files
    with pytest.raises(ValueError, match=r'units \[8\] out of range, the module has 8'):
        visualize_attention.visualize_attention(cfg, checkpoint, image, str(tmp_path), units=[8])


def test_picked_units_are_those_whose_maps_vary_most():
    maps = np.stack([np.full((4, 4), 0.5), np.eye(4), np.eye(4) * 0.1, np.zeros((4, 4))])
    assert visualize_attention._pick_units(maps, None, 2) == [1, 2]


@pytest.mark.slow
def test_detection_model_writes_the_backbone_ea_maps(tmp_path):
    _, checkpoint, image, cfg = _files(tmp_path, DET_CONFIG, 'mmdet')
    written = visualize_attention.visualize_attention(cfg, checkpoint, image,
                                                      str(tmp_path / 'maps'), num_units=2)
    assert list(written) == ['backbone.layer4.ea1']  # R18: stage 4 has 2 blocks
    _check_pngs(written['backbone.layer4.ea1'], num_tiles_in_strip=3)
