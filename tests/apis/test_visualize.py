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
from messages import names

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


def _expected_unit_maps(cfg, checkpoint, image, units, scaled=True):
    """Each unit's map over the image, computed apart from the tool: the EA input captured
    during mmseg's own inference, the map of that unit, its valid (unpadded) part resized with
    OpenCV, scaled to [0, 1] if ``scaled``."""
    from mmseg.apis import inference_model, init_model
    cfg = cfg.copy()
    cfg.model.test_cfg = dict(mode='whole')
    model = init_model(cfg, checkpoint, device='cpu')
    captured = []
    model.decode_head.ea.register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    with torch.no_grad():
        sample = inference_model(model, image)
        (feature, ) = captured
        attention = model.decode_head.ea.attention_map(feature)[0]  # S, h*w
    height, width = feature.shape[-2:]
    meta = sample.metainfo
    pad_h, pad_w = meta.get('batch_input_shape', meta['img_shape'])[:2]
    valid_h = round(height * meta['img_shape'][0] / pad_h)
    valid_w = round(width * meta['img_shape'][1] / pad_w)
    maps = {}
    for unit in units:
        unit_map = attention[unit].reshape(height, width)[:valid_h, :valid_w].numpy()
        unit_map = cv2.resize(unit_map, (80, 60), interpolation=cv2.INTER_LINEAR)
        maps[unit] = ((unit_map - unit_map.min()) / (unit_map.max() - unit_map.min())
                      if scaled else unit_map)
    return maps


def _map_from_jet_png(path) -> np.ndarray:
    """Invert the JET colour map of a PNG written with alpha=1 (the colours alone): (H, W)."""
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_JET)[:, 0]
    pixels = cv2.imread(str(path)).reshape(-1, 1, 3).astype(int)
    nearest = np.abs(pixels - lut[None].astype(int)).sum(-1).argmin(axis=1)
    return nearest.reshape(60, 80) / 255.0


def test_each_written_overlay_shows_the_map_of_the_unit_asked_for(seg_files, tmp_path):
    _, checkpoint, image, cfg = seg_files
    units = [1, 6]
    written = visualize_attention.visualize_attention(cfg, checkpoint, image, str(tmp_path),
                                                      units=units, alpha=1.0)
    expected = _expected_unit_maps(cfg, checkpoint, image, units)
    assert np.abs(expected[1] - expected[6]).mean() > 0.1  # the two units do differ
    for unit, path in zip(units, written['decode_head.ea'][:2]):
        assert path.endswith(f'unit{unit}.png')
        shown = _map_from_jet_png(path)
        other = expected[6 if unit == 1 else 1]
        # 8-bit colour steps and a different bilinear implementation: a few 1/255 steps
        assert np.abs(shown - expected[unit]).max() < 0.03, unit
        assert np.abs(shown - other).mean() > 0.1, unit


def test_units_outside_the_memory_raise_a_clear_error(seg_files, tmp_path):
    _, checkpoint, image, cfg = seg_files
    with pytest.raises(ValueError, match=names('units', [8], 8)):
        visualize_attention.visualize_attention(cfg, checkpoint, image, str(tmp_path), units=[8])


def test_without_units_the_maps_that_vary_most_over_the_image_are_written(seg_files, tmp_path):
    _, checkpoint, image, cfg = seg_files
    written = visualize_attention.visualize_attention(cfg, checkpoint, image, str(tmp_path),
                                                      num_units=2)
    maps = _expected_unit_maps(cfg, checkpoint, image, range(8), scaled=False)
    spread = sorted(range(8), key=lambda unit: -maps[unit].std())
    # the two chosen stand apart from the rest (no near tie that resizing could flip)
    assert maps[spread[1]].std() > 1.1 * maps[spread[2]].std()
    assert sorted(Path(p).name for p in written['decode_head.ea'][:-1]) == sorted(
        f'scene_decode_head_ea_unit{unit}.png' for unit in spread[:2])


@pytest.mark.slow
def test_detection_model_writes_the_backbone_ea_maps(tmp_path):
    _, checkpoint, image, cfg = _files(tmp_path, DET_CONFIG, 'mmdet')
    written = visualize_attention.visualize_attention(cfg, checkpoint, image,
                                                      str(tmp_path / 'maps'), num_units=2)
    assert list(written) == ['backbone.layer4.ea1']  # R18: stage 4 has 2 blocks
    _check_pngs(written['backbone.layer4.ea1'], num_tiles_in_strip=3)
