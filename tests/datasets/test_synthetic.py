"""The synthetic sets: deterministic, well-formed, readable by the real dataset classes."""
import hashlib
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmattn.datasets import (ADE_CLASSES, COCO_CLASSES, make_ade_semantic,
                             make_cityscapes_semantic, make_coco_instances)


def _digest(root: str) -> str:
    sha = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(folder, name)
            sha.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                sha.update(f.read())
    return sha.hexdigest()


@pytest.mark.parametrize('make', [make_coco_instances, make_ade_semantic,
                                  make_cityscapes_semantic])
def test_same_seed_writes_the_same_bytes(tmp_path, make):
    make(str(tmp_path / 'a'), num_train=3, num_val=2, seed=3)
    make(str(tmp_path / 'b'), num_train=3, num_val=2, seed=3)
    assert _digest(str(tmp_path / 'a')) == _digest(str(tmp_path / 'b'))


def test_another_seed_writes_other_images(tmp_path):
    make_ade_semantic(str(tmp_path / 'a'), num_train=2, num_val=1, seed=0)
    make_ade_semantic(str(tmp_path / 'b'), num_train=2, num_val=1, seed=1)
    assert _digest(str(tmp_path / 'a')) != _digest(str(tmp_path / 'b'))


def test_coco_annotations_load_with_pycocotools_and_match_the_pixels(tmp_path):
    from pycocotools.coco import COCO
    paths = make_coco_instances(str(tmp_path), num_train=6, num_val=2, size=(80, 112))
    coco = COCO(osp.join(paths['data_root'], paths['train_ann']))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(COCO_CLASSES)
    assert len(coco.getImgIds()) == 6
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 6
    for ann in anns:
        mask = coco.annToMask(ann)
        assert mask.shape == (80, 112)
        # the polygon is the visible outline: its raster covers the annotated area closely
        assert abs(int(mask.sum()) - ann['area']) <= 0.35 * ann['area'] + 20
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 112 and y + h <= 80


def test_coco_images_show_textured_objects_on_the_annotated_pixels(tmp_path):
    from pycocotools.coco import COCO
    paths = make_coco_instances(str(tmp_path), num_train=4, num_val=1)
    coco = COCO(osp.join(paths['data_root'], paths['train_ann']))
    ann = coco.loadAnns(coco.getAnnIds())[0]
    info = coco.loadImgs(ann['image_id'])[0]
    image = np.array(Image.open(osp.join(paths['data_root'], 'train', info['file_name'])))
    mask = coco.annToMask(ann).astype(bool)
    inside, outside = image[mask].astype(float), image[~mask].astype(float)
    assert np.abs(inside.mean(0) - outside.mean(0)).max() > 15  # the object stands out
    assert inside.std() > 10  # and carries a texture, not a flat colour


def test_ade_labels_use_zero_for_other_and_one_to_k_for_objects(tmp_path):
    paths = make_ade_semantic(str(tmp_path), num_train=8, num_val=2)
    values = set()
    folder = osp.join(paths['data_root'], paths['train_seg'])
    for name in os.listdir(folder):
        values |= set(np.unique(np.array(Image.open(osp.join(folder, name)))).tolist())
    assert 0 in values and values <= set(range(len(ADE_CLASSES) + 1)) and len(values) >= 4


def test_cityscapes_labels_are_train_ids_with_255_ignored(tmp_path):
    paths = make_cityscapes_semantic(str(tmp_path), num_train=4, num_val=1)
    folder = osp.join(paths['data_root'], paths['train_seg'], 'synth')
    names = sorted(os.listdir(folder))
    assert all(n.endswith('_gtFine_labelTrainIds.png') for n in names)
    values = set()
    for name in names:
        values |= set(np.unique(np.array(Image.open(osp.join(folder, name)))).tolist())
    assert 255 in values and values - {255} <= set(range(5))


def test_mmseg_and_mmdet_dataset_classes_read_the_sets(tmp_path):
    from mmdet.datasets import CocoDataset
    from mmseg.datasets import ADE20KDataset, CityscapesDataset
    coco = make_coco_instances(str(tmp_path / 'coco'), num_train=3, num_val=1)
    det = CocoDataset(data_root=coco['data_root'], ann_file=coco['train_ann'],
                      data_prefix=dict(img=coco['train_img']),
                      metainfo=dict(classes=COCO_CLASSES), pipeline=[])
    assert len(det) == 3 and det[0]['instances']
    ade = make_ade_semantic(str(tmp_path / 'ade'), num_train=3, num_val=1)
    seg = ADE20KDataset(data_root=ade['data_root'],
                        data_prefix=dict(img_path=ade['train_img'],
                                         seg_map_path=ade['train_seg']), pipeline=[])
    assert len(seg) == 3 and seg.metainfo['classes'][:5] == ADE_CLASSES
    city = make_cityscapes_semantic(str(tmp_path / 'city'), num_train=2, num_val=1)
    cs = CityscapesDataset(data_root=city['data_root'],
                           data_prefix=dict(img_path=city['train_img'],
                                            seg_map_path=city['train_seg']), pipeline=[])
    assert len(cs) == 2


def test_voc_set_is_read_by_pascal_voc_dataset(tmp_path):
    from mmseg.datasets import PascalVOCDataset

    from mmattn.datasets import make_voc_semantic
    paths = make_voc_semantic(str(tmp_path), num_train=3, num_val=2)
    voc = PascalVOCDataset(data_root=paths['data_root'], ann_file=paths['val_split'],
                           data_prefix=dict(img_path=paths['img'], seg_map_path=paths['seg']),
                           pipeline=[])
    assert len(voc) == 2
    label = np.array(Image.open(voc[0]['seg_map_path']))
    assert set(np.unique(label).tolist()) <= set(range(6))
