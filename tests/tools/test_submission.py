"""tools/test.py --format-only writes what the COCO / ADE20K / Cityscapes / VOC servers expect."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import REPO
from mmattn.apis import shrink_config
from mmattn.utils.submission import CITYSCAPES_TRAIN_TO_LABEL_ID


def _prepare(config: str, data_root: str, tmp_path, cfg_options=()) -> tuple:
    """A shrunk config file and a checkpoint of its freshly initialised model."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    shrink_config(cfg, data_root)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    init_default_scope(cfg.default_scope)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return cfg, cfg_path, ckpt


def _test(cfg_path, ckpt, tmp_path, *extra) -> str:
    out_dir = str(tmp_path / 'submission')
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', cfg_path, ckpt, '--format-only', '--submission-dir',
         out_dir, '--work-dir', str(tmp_path / 'work'), *extra], cwd=REPO, capture_output=True,
        text=True, timeout=900, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return out_dir


def _test_images(cfg) -> list:
    dataset = cfg.test_dataloader.dataset
    root = osp.join(dataset.data_root, dataset.data_prefix.img_path)
    return sorted(osp.join(folder, name) for folder, _, names in os.walk(root) for name in names)


@pytest.mark.slow
def test_coco_submission_zips_load_with_pycocotools_and_cover_every_image(tmp_path,
                                                                          synthetic_root):
    from pycocotools.coco import COCO
    cfg, cfg_path, ckpt = _prepare('mask_rcnn_ea_r50_fpn_1x_coco.py', synthetic_root, tmp_path)
    # score_thr 0 keeps the untrained model's boxes, so that every image has results
    out_dir = _test(cfg_path, ckpt, tmp_path, '--cfg-options', 'model.test_cfg.rcnn.score_thr=0')
    gt = COCO(cfg.test_evaluator.ann_file)
    for track in ('bbox', 'segm'):
        zip_path = osp.join(out_dir, f'{track}_test-dev2017_mmattn_results.zip')
        with zipfile.ZipFile(zip_path) as zf:
            assert zf.namelist() == ['detections_test-dev2017_mmattn_results.json']
            results = json.loads(zf.read(zf.namelist()[0]))
        assert {r['image_id'] for r in results} == set(gt.getImgIds())
        dt = gt.loadRes(results)
        assert len(dt.getAnnIds()) == len(results)
        key = 'bbox' if track == 'bbox' else 'segmentation'
        assert all(key in r and 'score' in r and 'category_id' in r for r in results)


def _check_pngs(png_names, images):
    assert sorted(png_names) == sorted(osp.splitext(osp.basename(i))[0] + '.png' for i in images)


@pytest.mark.slow
@pytest.mark.parametrize('tta', [False, True])
def test_ade20k_submission_has_one_png_per_image_with_labels_1_to_150(tmp_path, synthetic_root,
                                                                      tta):
    cfg, cfg_path, ckpt = _prepare('eanet_r50_ade20k.py', synthetic_root, tmp_path)
    # The server's test images come without label maps: the folder has images only.
    images = _test_images(cfg)
    test_root = tmp_path / 'ade_test'
    (test_root / 'images' / 'testing').mkdir(parents=True)
    for image in images:
        shutil.copy(image, test_root / 'images' / 'testing')
    out_dir = _test(cfg_path, ckpt, tmp_path, *(['--tta'] if tta else []), '--cfg-options',
                    f'test_dataloader.dataset.data_root={test_root}',
                    'test_dataloader.dataset.data_prefix.img_path=images/testing',
                    'test_dataloader.dataset.data_prefix.seg_map_path=annotations/testing')
    with zipfile.ZipFile(osp.join(out_dir, 'ade20k_results.zip')) as zf:
        names = zf.namelist()
        _check_pngs(names, images)
        for image_path in images:
            name = osp.splitext(osp.basename(image_path))[0] + '.png'
            with zf.open(name) as f:
                pred = np.array(Image.open(f))
            assert pred.shape == Image.open(image_path).size[::-1]
            assert pred.min() >= 1 and pred.max() <= 150


@pytest.mark.slow
def test_cityscapes_submission_uses_label_ids_not_train_ids(tmp_path, synthetic_root):
    cfg, cfg_path, ckpt = _prepare('eanet_r50_cityscapes.py', synthetic_root, tmp_path)
    out_dir = _test(cfg_path, ckpt, tmp_path)
    images = _test_images(cfg)
    with zipfile.ZipFile(osp.join(out_dir, 'cityscapes_results.zip')) as zf:
        names = zf.namelist()
        _check_pngs(names, images)
        for name, image_path in zip(sorted(names), sorted(images)):
            with zf.open(name) as f:
                pred = np.array(Image.open(f))
            assert pred.shape == Image.open(image_path).size[::-1]
            assert set(np.unique(pred).tolist()) <= set(CITYSCAPES_TRAIN_TO_LABEL_ID)


@pytest.mark.slow
def test_voc_submission_follows_the_results_folder_layout(tmp_path, synthetic_root):
    cfg, cfg_path, ckpt = _prepare('eanet_r50_voc12aug.py', synthetic_root, tmp_path)
    out_dir = _test(cfg_path, ckpt, tmp_path)
    split = osp.join(cfg.test_dataloader.dataset.data_root, cfg.test_dataloader.dataset.ann_file)
    with open(split) as f:
        ids = [line.strip() for line in f if line.strip()]
    with zipfile.ZipFile(osp.join(out_dir, 'voc_results.zip')) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(
            f'results/VOC2012/Segmentation/comp6_test_cls/{i}.png' for i in ids)
        with zf.open(names[0]) as f:
            png = Image.open(f)
            pred = np.array(png)
        assert png.mode == 'P' and pred.shape == (64, 96) and pred.max() <= 20


# The VOC colour map as published with the data (class: RGB), written out as a reference
_VOC_COLOURS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 7: (128, 128, 128),
                15: (192, 128, 128), 20: (0, 64, 128), 255: (224, 224, 192)}


def test_voc_submission_pngs_are_palette_images_of_the_predicted_indices(tmp_path):
    from mmattn.utils.submission import pack_submission
    cfg = Config(dict(test_dataloader=dict(dataset=dict(type='PascalVOCDataset'))))
    os.makedirs(tmp_path / 'png')
    rng = np.random.default_rng(0)
    written = {}
    for image_id in ('2008_000001', '2008_000002'):
        indices = rng.integers(0, 21, size=(5, 7), dtype=np.uint8)
        Image.fromarray(indices).save(tmp_path / 'png' / f'{image_id}.png')  # as mmseg writes
        written[image_id] = indices
    zips = pack_submission(cfg, 'mmseg', str(tmp_path))
    with zipfile.ZipFile(zips['voc']) as zf:
        for image_id, indices in written.items():
            with zf.open(f'results/VOC2012/Segmentation/comp6_test_cls/{image_id}.png') as f:
                png = Image.open(f)
                png.load()
            assert png.mode == 'P'
            np.testing.assert_array_equal(np.array(png), indices)
            palette = png.getpalette()
            for index, colour in _VOC_COLOURS.items():
                assert tuple(palette[3 * index:3 * index + 3]) == colour, index
