"""The training input size, the schedule's iterations and the training set's size."""
import json
import math
import os
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

from mmengine.config import Config

from ...utils.sources import TRAIN_SET_SIZES
from .files import _leaf_datasets

_REFERENCE_IMAGE = (480, 640)  # (h, w) of a typical COCO image; the synthetic ones are 4:3 too


def _hw(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _train_input_size(cfg: Config, scope: str) -> Tuple[int, int]:
    """The (H, W) a training image reaches the network with (module docstring)."""
    preprocessor = cfg.model.get('data_preprocessor') or {}
    pipeline = _leaf_datasets(cfg.train_dataloader.dataset)[0].get('pipeline') or []
    if scope == 'mmpretrain':  # classification: the last crop / resize of the train pipeline
        size = None
        for step in pipeline:
            kind = step.get('type')
            if kind in ('RandomResizedCrop', 'Resize') and step.get('scale'):
                w, h = _hw(step['scale'])  # mmpretrain: (width, height)
                size = (h, w)
            elif kind in ('RandomCrop', 'CenterCrop') and step.get('crop_size'):
                w, h = _hw(step['crop_size'])
                size = (h, w)
        if size is None:
            raise ValueError('mmpretrain config without RandomResizedCrop / Resize / a crop in '
                             'its train pipeline: no training input size')
        return size
    if scope == 'mmseg':
        if preprocessor.get('size'):
            return _hw(preprocessor['size'])
        for step in pipeline:
            if step.get('type') == 'RandomCrop':
                return _hw(step['crop_size'])
        raise ValueError('mmseg config without data_preprocessor.size or a RandomCrop: no '
                         'training input size; set model.data_preprocessor.size')
    for augment in preprocessor.get('batch_augments') or []:
        if augment.get('type') == 'BatchFixedSizePad':
            return _hw(augment['size'])
    h, w = _REFERENCE_IMAGE
    for step in pipeline:
        kind = step.get('type')
        if kind in ('Resize', 'RandomResize') and step.get('scale'):
            h, w = _rescale((h, w), step['scale'], step.get('keep_ratio', False))
        elif kind == 'RandomChoiceResize':
            largest = max(step['scales'], key=lambda s: s[0] * s[1])
            h, w = _rescale((h, w), largest, step.get('keep_ratio', False))
        elif kind == 'RandomCrop' and step.get('crop_type', 'absolute') == 'absolute':
            crop_w, crop_h = _hw(step['crop_size'])  # mmdet: (width, height)
            h, w = min(h, crop_h), min(w, crop_w)
    divisor = preprocessor.get('pad_size_divisor', 1)
    return math.ceil(h / divisor) * divisor, math.ceil(w / divisor) * divisor


def _rescale(hw: Tuple[int, int], scale: Sequence[int], keep_ratio: bool) -> Tuple[int, int]:
    """mmcv's resize: keep_ratio fits the image in (long, short) edges; else scale is (w, h)."""
    scale = _hw(scale)
    if not keep_ratio:
        return scale[1], scale[0]
    h, w = hw
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


def _schedule_iters(cfg: Config, gpus: int, batch: int) -> Tuple[Optional[int], str]:
    train_cfg = cfg.train_cfg
    if 'max_iters' in train_cfg:
        return int(train_cfg.max_iters), f'train_cfg.max_iters = {train_cfg.max_iters}'
    images, source = _dataset_size(cfg.train_dataloader.dataset)
    epochs = train_cfg.max_epochs
    if images is None:
        return None, f'{epochs} epochs of a training set of unknown size ({source})'
    per_epoch = math.ceil(images / (gpus * batch))
    return epochs * per_epoch, (f'{epochs} epochs x ceil({images} images / ({gpus} x {batch})) '
                                f'= {epochs} x {per_epoch}; images: {source}')


def _dataset_size(dataset: dict) -> Tuple[Optional[int], str]:
    kind = dataset.get('type')
    if 'datasets' in dataset:  # ConcatDataset
        parts = [_dataset_size(d) for d in dataset['datasets']]
        if any(n is None for n, _ in parts):
            return None, '; '.join(s for _, s in parts)
        return sum(n for n, _ in parts), ' + '.join(f'{n} ({s})' for n, s in parts)
    if 'dataset' in dataset:
        n, source = _dataset_size(dataset['dataset'])
        times = dataset.get('times', 1) if kind == 'RepeatDataset' else 1
        note = f'{kind} x {times}' if kind == 'RepeatDataset' else f'{kind}, taken as 1x'
        return (None if n is None else n * times), f'{source}, {note}'
    return _leaf_size(dataset)


def _leaf_size(leaf: dict) -> Tuple[Optional[int], str]:
    root = leaf.get('data_root') or ''
    ann = leaf.get('ann_file') or ''
    prefix = leaf.get('data_prefix') or {}
    images = prefix.get('img_path') or prefix.get('img') or ''
    if ann and osp.isfile(osp.join(root, ann)):
        path = osp.join(root, ann)
        if path.endswith('.json'):
            return _coco_images(path, leaf), path
        with open(path) as f:
            return sum(1 for line in f if line.strip()), path
    if not ann and images and osp.isdir(osp.join(root, images)):
        folder = osp.join(root, images)
        suffix = leaf.get('img_suffix') or ('.jpg', '.jpeg', '.png')
        count = sum(name.endswith(suffix) for _, _, names in os.walk(folder) for name in names)
        return count, f'{folder} ({suffix})'
    split = leaf.get('split')
    if not ann and not images and split:  # mmpretrain's ImageNet: {data_root}/{split}/
        folder = osp.join(root, split)
        if osp.isdir(folder):
            suffix = ('.jpg', '.jpeg', '.png', '.JPEG')
            count = sum(name.endswith(suffix) for _, _, names in os.walk(folder)
                        for name in names)
            return count, f'{folder} ({suffix})'
    # split-based datasets (no ann_file / image folder in the config) are known as 'type:split'
    key = ann or images or (f"{leaf.get('type')}:{split}" if split else '')
    where = osp.join(root, key if ann or images or not split else split)
    for known, count in TRAIN_SET_SIZES.items():
        if key and key.rstrip('/').endswith(known):
            return count, f'mmattn.utils.sources.TRAIN_SET_SIZES[{known!r}] ({where} not found)'
    return None, f'{where} not found and not in TRAIN_SET_SIZES'


def _coco_images(path: str, leaf: dict) -> int:
    """Images mmdet's CocoDataset trains on: filter_empty_gt drops images without annotations,
    min_size those with a shorter side below it (the dataset's class subset is not applied)."""
    with open(path) as f:
        coco = json.load(f)
    images = coco['images']
    filters = leaf.get('filter_cfg') or {}
    if leaf.get('test_mode') or not filters:
        return len(images)
    if filters.get('filter_empty_gt', False):
        annotated = {a['image_id'] for a in coco.get('annotations', [])}
        images = [i for i in images if i['id'] in annotated]
    min_size = filters.get('min_size', 0)
    return sum(min(i['width'], i['height']) >= min_size for i in images)
