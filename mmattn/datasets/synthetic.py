"""Small deterministic synthetic datasets in the real COCO and mmseg formats.

They exist so that the real mmdet / mmseg dataset classes, pipelines and metrics run end to end
without a download: the demo trains on them, the tests smoke-test every config on them.

Each image is a textured background with a few textured shapes (disc, square, triangle, cross)
that may occlude one another. A class is a (shape, texture, colour family) combination with jitter,
so telling classes apart needs texture and shape, not a single colour lookup. The same
``seed`` gives the same bytes (PNG/JPEG encoding with the same libraries).

Layouts written:

* COCO instances: ``{root}/{split}/{id:06d}.png`` and ``{root}/annotations/instances_{split}.json``
  with polygon segmentations of the *visible* part of each object (occluders cut it).
* ADE20K-style semantic: ``{root}/images/{training,validation}/*.jpg`` and
  ``{root}/annotations/{training,validation}/*.png``; label 0 is "other" (ignored with
  ``reduce_zero_label=True``), objects use 1..K, the ADE20K ids of :data:`ADE_CLASSES`.
* Cityscapes-style semantic: ``{root}/leftImg8bit/{train,val}/synth/*_leftImg8bit.png`` and
  ``{root}/gtFine/{train,val}/synth/*_gtFine_labelTrainIds.png`` (train ids, 255 ignored).
* Pascal VOC-style semantic: ``{root}/JPEGImages/*.jpg``, ``{root}/SegmentationClass/*.png``
  (0 background, 1..K objects) and ``{root}/ImageSets/Segmentation/{train,val}.txt``.
* ImageNet-style classification (mmpretrain's ``ImageNet`` with ``split='train'`` / ``'val'``):
  ``{root}/train/{wnid}/*.JPEG``, ``{root}/val/*.JPEG`` and the annotation lists
  ``{root}/meta/{train,val}.txt`` (``path label`` per line), the layout of the official
  ImageNet-1k download after mmpretrain's preparation. One centred object per image; its class
  is the label.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

__all__ = [
    'COCO_CLASSES', 'ADE_CLASSES', 'CITYSCAPES_CLASSES', 'make_coco_instances',
    'make_ade_semantic', 'make_cityscapes_semantic', 'make_imagenet_folder', 'make_voc_semantic'
]

# Object classes of the COCO-format set (category ids 1..4).
COCO_CLASSES = ('disc', 'square', 'triangle', 'cross')
# The first ADE20K classes (ids 1..5 in ADE's 150-class list), so that mmseg's own
# ADE20KDataset, with its full METAINFO, reads the set unchanged.
ADE_CLASSES = ('wall', 'building', 'sky', 'floor', 'tree')
# Cityscapes train ids 0..4: road, sidewalk, building, wall, fence.
CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence')

_SHAPES = ('disc', 'square', 'triangle', 'cross')
# Per class: base colour (RGB) and texture (kind, period in pixels).
_PALETTE = ((200, 70, 60), (60, 170, 80), (70, 90, 210), (210, 180, 50), (150, 70, 190))
_TEXTURES = (('stripes_h', 4), ('checker', 5), ('stripes_d', 6), ('dots', 4), ('stripes_v', 3))


def _texture(kind: str, period: int, h: int, w: int, rng: np.random.RandomState) -> np.ndarray:
    """A (h, w) modulation map in [0.55, 1.0]."""
    yy, xx = np.mgrid[0:h, 0:w]
    phase = rng.randint(period)
    if kind == 'stripes_h':
        pattern = ((yy + phase) // period) % 2
    elif kind == 'stripes_v':
        pattern = ((xx + phase) // period) % 2
    elif kind == 'stripes_d':
        pattern = ((xx + yy + phase) // period) % 2
    elif kind == 'checker':
        pattern = (((xx + phase) // period) + (yy // period)) % 2
    else:  # dots
        pattern = (((xx + phase) % period) < 2) & (((yy + phase) % period) < 2)
    return 0.55 + 0.45 * pattern.astype(np.float32)


def _paint(canvas: np.ndarray, mask: np.ndarray, cls: int, rng: np.random.RandomState) -> None:
    h, w = mask.shape
    colour = np.array(_PALETTE[cls % len(_PALETTE)], np.float32)
    colour = np.clip(colour + rng.uniform(-30, 30, 3), 0, 255)
    kind, period = _TEXTURES[cls % len(_TEXTURES)]
    layer = _texture(kind, period, h, w, rng)[..., None] * colour
    canvas[mask] = layer[mask]


def _background(h: int, w: int, rng: np.random.RandomState) -> np.ndarray:
    base = rng.uniform(90, 160, 3).astype(np.float32)
    grad = np.linspace(-25, 25, w, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 12, (h, w, 3)).astype(np.float32)
    return np.broadcast_to(base, (h, w, 3)) + grad + noise


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Vertices (N, 2) of a shape centred at (cx, cy) with radius r, rotated by angle."""
    if shape == 'disc':
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    elif shape == 'square':
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * 0.8
    elif shape == 'triangle':
        t = np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6])
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    else:  # cross
        a, b = 1.0, 0.35
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a],
                        [-b, b], [-a, b], [-a, -b], [-b, -b]], np.float64)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T * r + np.array([cx, cy])


def _rasterise(poly: np.ndarray, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    return mask.astype(bool)


def _scene(h: int, w: int, num_classes: int, max_objects: int,
           rng: np.random.RandomState) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Render one image; return it (uint8 HxWx3) and [(class, visible mask)] in drawing order."""
    canvas = _background(h, w, rng)
    objects: List[Tuple[int, np.ndarray]] = []
    for _ in range(rng.randint(1, max_objects + 1)):
        cls = rng.randint(num_classes)
        r = rng.uniform(0.12, 0.3) * min(h, w)
        cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)
        mask = _rasterise(_shape_polygon(_SHAPES[cls % len(_SHAPES)], cx, cy, r,
                                         rng.uniform(0, np.pi)), h, w)
        if mask.sum() < 16:
            continue
        _paint(canvas, mask, cls, rng)
        # Occlusion: the new object hides what it covers of the earlier ones.
        objects = [(c, m & ~mask) for c, m in objects]
        objects.append((cls, mask))
    # Objects hidden almost entirely by later ones are dropped, as COCO would not label them.
    objects = [(c, m) for c, m in objects if m.sum() >= 16]
    return np.clip(canvas, 0, 255).astype(np.uint8), objects


def _polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _write_png(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, format='PNG', optimize=False)


def make_coco_instances(root: str, num_train: int = 24, num_val: int = 8,
                        size: Tuple[int, int] = (96, 128), max_objects: int = 4,
                        seed: int = 0) -> Dict[str, str]:
    """Write a COCO-format instance segmentation set; return its paths.

    Args:
        root (str): Output folder.
        num_train (int): Training images. Default: 24.
        num_val (int): Validation images. Default: 8.
        size (tuple[int, int]): Image (height, width). Default: (96, 128).
        max_objects (int): Upper bound of objects per image. Default: 4.
        seed (int): Random seed; the same seed writes the same bytes. Default: 0.

    Returns:
        dict: ``data_root``, ``train_ann``, ``val_ann`` (relative to data_root), ``train_img``,
        ``val_img`` (image prefixes relative to data_root) and ``classes``.
    """
    h, w = size
    categories = [dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(COCO_CLASSES)]
    for split, count, offset in (('train', num_train, 0), ('val', num_val, 1)):
        rng = np.random.RandomState(seed * 1000 + offset)
        images, annotations = [], []
        for idx in range(count):
            image, objects = _scene(h, w, len(COCO_CLASSES), max_objects, rng)
            name = f'{idx:06d}.png'
            _write_png(osp.join(root, split, name), image)
            images.append(dict(id=idx + 1, file_name=name, height=h, width=w))
            for cls, mask in objects:
                polys = _polygons(mask)
                if not polys:
                    continue
                ys, xs = np.nonzero(mask)
                x0, y0 = float(xs.min()), float(ys.min())
                bw, bh = float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=idx + 1, category_id=cls + 1,
                         segmentation=polys, area=float(mask.sum()), bbox=[x0, y0, bw, bh],
                         iscrowd=0))
        ann_path = osp.join(root, 'annotations', f'instances_{split}.json')
        os.makedirs(osp.dirname(ann_path), exist_ok=True)
        with open(ann_path, 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return dict(data_root=root, train_ann='annotations/instances_train.json',
                val_ann='annotations/instances_val.json', train_img='train/', val_img='val/',
                classes=COCO_CLASSES)


def _semantic_pairs(count: int, size: Tuple[int, int], num_classes: int, max_objects: int,
                    rng: np.random.RandomState, background: int):
    h, w = size
    for _ in range(count):
        image, objects = _scene(h, w, num_classes, max_objects, rng)
        label = np.full((h, w), background, np.uint8)
        for cls, mask in objects:
            label[mask] = cls
        yield image, label


def make_ade_semantic(root: str, num_train: int = 24, num_val: int = 8,
                      size: Tuple[int, int] = (64, 96), max_objects: int = 4, seed: int = 0,
                      classes: Sequence[str] = ADE_CLASSES) -> Dict[str, str]:
    """Write an ADE20K-style semantic set (0 = other, objects 1..K); return its paths.

    Read it with ``ADE20KDataset`` (the classes are ADE20K's first ids) or with
    ``BaseSegDataset(metainfo=dict(classes=classes), img_suffix='.jpg',
    seg_map_suffix='.png', reduce_zero_label=True)``.
    Arguments as :func:`make_coco_instances`; default size (64, 96).
    """
    for split, count, offset in (('training', num_train, 0), ('validation', num_val, 1)):
        rng = np.random.RandomState(seed * 1000 + 100 + offset)
        pairs = _semantic_pairs(count, size, len(classes), max_objects, rng, background=255)
        for idx, (image, label) in enumerate(pairs):
            label = np.where(label == 255, 0, label + 1).astype(np.uint8)  # 0: other
            name = f'synth_{idx:06d}'
            os.makedirs(osp.join(root, 'images', split), exist_ok=True)
            Image.fromarray(image).save(osp.join(root, 'images', split, name + '.jpg'),
                                        format='JPEG', quality=95)
            _write_png(osp.join(root, 'annotations', split, name + '.png'), label)
    return dict(data_root=root, train_img='images/training', train_seg='annotations/training',
                val_img='images/validation', val_seg='annotations/validation',
                classes=tuple(classes))


def make_cityscapes_semantic(root: str, num_train: int = 16, num_val: int = 4,
                             size: Tuple[int, int] = (64, 128), max_objects: int = 4,
                             seed: int = 0) -> Dict[str, str]:
    """Write a Cityscapes-style semantic set (labelTrainIds PNGs, 255 ignored); return paths.

    Readable by mmseg's ``CityscapesDataset``. Arguments as :func:`make_coco_instances`.
    """
    for split, count, offset in (('train', num_train, 0), ('val', num_val, 1)):
        rng = np.random.RandomState(seed * 1000 + 200 + offset)
        pairs = _semantic_pairs(count, size, len(CITYSCAPES_CLASSES), max_objects, rng,
                                background=255)
        for idx, (image, label) in enumerate(pairs):
            stem = f'synth_{idx:06d}_000019'
            _write_png(osp.join(root, 'leftImg8bit', split, 'synth', stem + '_leftImg8bit.png'),
                       image)
            _write_png(osp.join(root, 'gtFine', split, 'synth',
                                stem + '_gtFine_labelTrainIds.png'), label)
    return dict(data_root=root, train_img='leftImg8bit/train', train_seg='gtFine/train',
                val_img='leftImg8bit/val', val_seg='gtFine/val', classes=CITYSCAPES_CLASSES)


def make_voc_semantic(root: str, num_train: int = 16, num_val: int = 4,
                      size: Tuple[int, int] = (64, 96), max_objects: int = 4,
                      seed: int = 0) -> Dict[str, str]:
    """Write a Pascal VOC-style semantic set (0 background, objects 1..5); return its paths.

    Readable by mmseg's ``PascalVOCDataset`` (whose first classes are background, aeroplane,
    bicycle, bird, boat, bottle). Arguments as :func:`make_coco_instances`.
    """
    os.makedirs(osp.join(root, 'JPEGImages'), exist_ok=True)
    os.makedirs(osp.join(root, 'ImageSets', 'Segmentation'), exist_ok=True)
    for split, count, offset in (('train', num_train, 0), ('val', num_val, 1)):
        rng = np.random.RandomState(seed * 1000 + 300 + offset)
        pairs = _semantic_pairs(count, size, 5, max_objects, rng, background=255)
        names = []
        for idx, (image, label) in enumerate(pairs):
            name = f'2099_{split}_{idx:06d}'
            label = np.where(label == 255, 0, label + 1).astype(np.uint8)
            Image.fromarray(image).save(osp.join(root, 'JPEGImages', name + '.jpg'),
                                        format='JPEG', quality=95)
            _write_png(osp.join(root, 'SegmentationClass', name + '.png'), label)
            names.append(name)
        with open(osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return dict(data_root=root, img='JPEGImages', seg='SegmentationClass',
                train_split='ImageSets/Segmentation/train.txt',
                val_split='ImageSets/Segmentation/val.txt')


def make_imagenet_folder(root: str, num_classes: int = 4, per_class: int = 2, num_val: int = 4,
                         size: Tuple[int, int] = (48, 64), seed: int = 0) -> Dict[str, str]:
    """Write an ImageNet-style classification set (see the module docstring); return its paths.

    mmpretrain's ``ImageNet(data_root=root, split='train' | 'val')`` reads it as it reads
    ImageNet-1k: the labels come from ``meta/{split}.txt``, so a few classes stand for the 1000
    (the folder names are ImageNet-style wnids, ``n{label:08d}``).

    Args:
        root (str): output folder.
        num_classes (int): classes (labels 0..num_classes-1). Default: 4.
        per_class (int): training images per class. Default: 2.
        num_val (int): validation images, labels cycling through the classes. Default: 4.
        size (tuple): (h, w) of every image. Default: (48, 64).
        seed (int): random seed. Default: 0.
    """
    h, w = size
    rng = np.random.RandomState(seed * 1000 + 400)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    lines = {'train': [], 'val': []}
    items = [('train', cls, idx) for cls in range(num_classes) for idx in range(per_class)]
    items += [('val', idx % num_classes, idx) for idx in range(num_val)]
    for split, cls, idx in items:
        canvas = _background(h, w, rng)
        r = rng.uniform(0.25, 0.4) * min(h, w)
        mask = _rasterise(_shape_polygon(_SHAPES[cls % len(_SHAPES)], w / 2, h / 2, r,
                                         rng.uniform(0, np.pi)), h, w)
        _paint(canvas, mask, cls, rng)
        wnid = f'n{cls:08d}'
        name = (f'{wnid}/{wnid}_{idx}.JPEG' if split == 'train' else
                f'ILSVRC2012_val_{idx + 1:08d}.JPEG')
        path = osp.join(root, split, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(path, format='JPEG',
                                                                      quality=95)
        lines[split].append(f'{name} {cls}')
    for split, split_lines in lines.items():
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(split_lines) + '\n')
    return dict(data_root=root, train='train', val='val', train_ann='meta/train.txt',
                val_ann='meta/val.txt')
