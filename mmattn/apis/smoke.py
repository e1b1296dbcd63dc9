"""Smoke-run any mmdet / mmseg / mmpretrain config on the synthetic data: build, train, test.

This is how the test suite proves that every config file of ours builds and runs, and how a
user can check a config of their own before spending GPU time on it
(``.venv/bin/python tools/smoke_test.py CONFIG``). The model, pipelines, losses and metrics of
the config are kept; only what needs a dataset on disk or a big machine changes:

* every train/val/test dataset becomes the synthetic set of the same format (COCO instances,
  ADE20K, Cityscapes, Pascal VOC; other segmentation sets read the ADE20K-style one; mmpretrain
  configs read the ImageNet-style folder) and the evaluators read its annotations;
* image scales, crop sizes, pads and sliding-window crops shrink so the longest side is
  ``max_side`` (``crop_side`` for crops);
* pretrained init is dropped (no checkpoint files are needed), SyncBN becomes BN; detectors
  predict the synthetic set's 4 categories (``num_classes``) so that COCO metrics can map labels;
* training runs ``iters`` iterations of batch 2 with no LR schedule and no checkpoint saving.
"""
import copy
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Union

from mmengine.config import Config, ConfigDict

from ..datasets import (ADE_CLASSES, COCO_CLASSES, make_ade_semantic, make_cityscapes_semantic,
                        make_coco_instances, make_imagenet_folder, make_voc_semantic)
from ..utils.config import evaluator_list, innermost_dataset, walk_dicts
from ..utils.config import drop_pretrained_init, host_library, replace_sync_bn

__all__ = ['make_synthetic_data', 'shrink_config', 'run_smoke_test', 'use_synthetic_data']

_SIZE_KEYS = ('scale', 'img_scale', 'scales')
_CROP_KEYS = ('crop_size', 'size')


def make_synthetic_data(root: str) -> Dict[str, Dict[str, Any]]:
    """Write (once each) the small COCO, ADE20K, Cityscapes, VOC and ImageNet-style sets used by
    smoke runs under root."""
    sets = dict(
        coco=lambda: make_coco_instances(osp.join(root, 'coco'), num_train=4, num_val=2),
        ade=lambda: make_ade_semantic(osp.join(root, 'ade'), num_train=4, num_val=2),
        cityscapes=lambda: make_cityscapes_semantic(osp.join(root, 'cityscapes'), num_train=4,
                                                    num_val=2),
        voc=lambda: make_voc_semantic(osp.join(root, 'voc'), num_train=4, num_val=2),
        imagenet=lambda: make_imagenet_folder(osp.join(root, 'imagenet'), num_classes=4,
                                              per_class=1, num_val=2))
    for name, make in sets.items():
        marker = osp.join(root, f'.{name}.complete')  # a set is reused only once written whole
        if not osp.exists(marker):
            make()
            open(marker, 'w').close()
    return {name: _paths(root, name) for name in sets}


def _paths(root: str, name: str) -> Dict[str, Any]:
    if name == 'coco':
        return dict(data_root=osp.join(root, 'coco'), train_ann='annotations/instances_train.json',
                    val_ann='annotations/instances_val.json', train_img='train/', val_img='val/')
    if name == 'ade':
        return dict(data_root=osp.join(root, 'ade'), train_img='images/training',
                    train_seg='annotations/training', val_img='images/validation',
                    val_seg='annotations/validation')
    if name == 'imagenet':
        return dict(data_root=osp.join(root, 'imagenet'))
    if name == 'voc':
        return dict(data_root=osp.join(root, 'voc'), img='JPEGImages', seg='SegmentationClass',
                    train_split='ImageSets/Segmentation/train.txt',
                    val_split='ImageSets/Segmentation/val.txt')
    return dict(data_root=osp.join(root, 'cityscapes'), train_img='leftImg8bit/train',
                train_seg='gtFine/train', val_img='leftImg8bit/val', val_seg='gtFine/val')


def _shrink_pair(value: Any, side: int) -> Any:
    """Scale an (a, b) size so that its larger entry is ``side``; ints become ``side``."""
    if isinstance(value, int):
        return side
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) for v in value):
        factor = side / max(value)
        return tuple(max(16, int(round(v * factor))) for v in value)
    if isinstance(value, (list, tuple)):  # a list of scales
        return [_shrink_pair(v, side) for v in value]
    return value


def _shrink_sizes(node: Any, max_side: int, crop_side: int) -> None:
    """Shrink every image scale, crop size and sliding-window stride inside ``node``."""

    def _shrink(item: dict) -> None:
        for key, value in item.items():
            if key in _SIZE_KEYS:
                item[key] = _shrink_pair(value, max_side)
            elif key in _CROP_KEYS:
                item[key] = _shrink_pair(value, crop_side)
            elif key == 'stride':
                item[key] = _shrink_pair(value, crop_side * 2 // 3)

    walk_dicts(node, _shrink)


def _set_num_classes(node: Any, num_classes: int) -> None:

    def _set(item: dict) -> None:
        if 'num_classes' in item:
            item['num_classes'] = num_classes

    walk_dicts(node, _set)


def _det_dataset(original: dict, paths: dict, train: bool) -> dict:
    split = 'train' if train else 'val'
    inner = innermost_dataset(original)
    return dict(type='CocoDataset', data_root=paths['data_root'],
                ann_file=paths[f'{split}_ann'], data_prefix=dict(img=paths[f'{split}_img']),
                metainfo=dict(classes=COCO_CLASSES),
                filter_cfg=dict(filter_empty_gt=train, min_size=0), test_mode=not train,
                pipeline=copy.deepcopy(inner['pipeline']), backend_args=None)


def _seg_dataset(original: dict, data: dict, train: bool) -> dict:
    inner = innermost_dataset(original)
    split = 'train' if train else 'val'
    kind = inner.get('type')
    if kind == 'PascalVOCDataset':
        paths = data['voc']
        return dict(type=kind, data_root=paths['data_root'], ann_file=paths[f'{split}_split'],
                    data_prefix=dict(img_path=paths['img'], seg_map_path=paths['seg']),
                    pipeline=copy.deepcopy(inner['pipeline']))
    if kind == 'CityscapesDataset':
        paths, extra = data['cityscapes'], {}
    elif kind == 'ADE20KDataset':
        paths, extra = data['ade'], {}
    else:  # any other layout reads the ADE20K-style set through the generic class
        paths, kind = data['ade'], 'BaseSegDataset'
        extra = dict(metainfo=dict(classes=ADE_CLASSES), img_suffix='.jpg',
                     seg_map_suffix='.png', reduce_zero_label=True)
    return dict(type=kind, data_root=paths['data_root'],
                data_prefix=dict(img_path=paths[f'{split}_img'],
                                 seg_map_path=paths[f'{split}_seg']),
                pipeline=copy.deepcopy(inner['pipeline']), **extra)


def _cls_dataset(original: dict, paths: dict, train: bool) -> dict:
    """mmpretrain: the ImageNet-style set, read by split as ImageNet-1k is."""
    inner = innermost_dataset(original)
    return dict(type='ImageNet', data_root=paths['data_root'], split='train' if train else 'val',
                pipeline=copy.deepcopy(inner['pipeline']))


def _evaluators(evaluator: Union[dict, Sequence[dict]], scope: str, paths: dict,
                out_dir: str) -> Any:
    """Point the evaluators at the synthetic annotations; what they write goes to out_dir."""
    out = []
    for item in evaluator_list(evaluator):
        item = copy.deepcopy(item)
        if scope == 'mmdet' and 'ann_file' in item:
            item['ann_file'] = osp.join(paths['data_root'], paths['val_ann'])
            if item.get('outfile_prefix'):
                item['outfile_prefix'] = osp.join(out_dir, 'results')
        if scope == 'mmseg' and item.get('output_dir'):
            item['output_dir'] = osp.join(out_dir, 'png')
        out.append(item)
    return out if len(out) > 1 else out[0]


def use_synthetic_data(cfg: Config, data_root: str, out_dir: Optional[str] = None) -> str:
    """Point every dataset and evaluator of ``cfg`` (in place) at the synthetic set of its format.

    Pipelines (image sizes included), batch sizes and loader settings stay the config's.
    Evaluators keep their mode: a ``format_only`` test set (a server submission) is formatted,
    into ``out_dir`` (default ``{data_root}/outputs``), instead of scored.

    Returns:
        str: the host library, ``'mmdet'``, ``'mmseg'`` or ``'mmpretrain'``.
    """
    scope = host_library(cfg)
    data = make_synthetic_data(data_root)
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        if scope == 'mmdet':
            loader.dataset = _det_dataset(loader.dataset, data['coco'], split == 'train')
        elif scope == 'mmpretrain':
            loader.dataset = _cls_dataset(loader.dataset, data['imagenet'], split == 'train')
        else:
            loader.dataset = _seg_dataset(loader.dataset, data, split == 'train')
    for key in ('val_evaluator', 'test_evaluator'):
        if cfg.get(key) is not None:
            cfg[key] = _evaluators(cfg[key], scope, data['coco'],
                                   out_dir or osp.join(data_root, 'outputs'))
    return scope


def shrink_config(cfg: Config, data_root: str, *, max_side: int = 128, crop_side: int = 64,
                  iters: int = 1, out_dir: Optional[str] = None) -> Config:
    """Rewrite ``cfg`` in place for a smoke run on the synthetic data under ``data_root``.

    Evaluators keep their mode: a ``format_only`` test set (a server submission) is formatted,
    into ``out_dir`` (default ``{data_root}/outputs``), instead of scored.
    """
    scope = use_synthetic_data(cfg, data_root, out_dir)
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        loader.batch_size = 2 if split == 'train' else 1
        loader.num_workers = 0
        loader.persistent_workers = False
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'tta_pipeline'):
        if cfg.get(key) is not None:
            _shrink_sizes(cfg[key], max_side, crop_side)
    preprocessor = cfg.model.get('data_preprocessor')
    if preprocessor is not None:
        _shrink_sizes(preprocessor, max_side, crop_side)
    test_cfg = cfg.model.get('test_cfg')
    if isinstance(test_cfg, dict) and test_cfg.get('mode') == 'slide':
        _shrink_sizes(test_cfg, max_side, crop_side)
    drop_pretrained_init(cfg)
    replace_sync_bn(cfg)
    if scope == 'mmdet':  # predicted labels must index the synthetic set's categories
        _set_num_classes(cfg.model, len(COCO_CLASSES))
    cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=iters, val_interval=10**9)
    cfg.log_processor = dict(type='LogProcessor', window_size=1, by_epoch=False)
    cfg.param_scheduler = []
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0)
    cfg.launcher = 'none'
    cfg.load_from, cfg.resume = None, False
    return cfg


def run_smoke_test(config: Union[str, Config], work_dir: str, deploy: bool = False,
                   amp: bool = False, data_root: Optional[str] = None,
                   iters: int = 1) -> Dict[str, Any]:
    """Train ``iters`` iterations of ``config`` on synthetic data, then test it.

    Args:
        config (str | Config): Config file or loaded config (copied, not modified).
        work_dir (str): Work directory of the run (logs; no checkpoints are written).
        deploy (bool): Test the re-parameterised form (``switch_to_deploy``). Default: False.
        amp (bool): Train under bf16 autocast (CPU). Default: False.
        data_root (str, optional): Where the synthetic sets live (written once); default
            ``{work_dir}/synthetic``.
        iters (int): Training iterations. Default: 1.

    Returns:
        dict: ``train_loss`` (float, the last iteration's total loss), ``metrics`` (dict of the
        test evaluator), ``runner`` (the mmengine Runner, for further checks).
    """
    import mmattn  # noqa: F401  (registry and compatibility fixes)
    from .launch import build_runner

    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    shrink_config(cfg, data_root or osp.join(work_dir, 'synthetic'), iters=iters,
                  out_dir=osp.join(work_dir, 'outputs'))
    cfg.work_dir = work_dir
    if amp:
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
    if deploy:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='SwitchToDeployHook')]
    runner = build_runner(cfg, own_visualizer=True)
    runner.train()
    loss = float(runner.message_hub.get_scalar('train/loss').current())
    metrics = runner.test()
    return dict(train_loss=loss, metrics=metrics, runner=runner)
