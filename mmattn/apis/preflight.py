"""Check a machine before a long run (``tools/preflight.py``): what is missing, how big, how fast.

For a config as written (its crop / input size and per-GPU batch), on the machine that will
train it, :func:`preflight` reports:

* the devices; on CUDA, whether mmcv's ops have CUDA kernels (:mod:`mmattn.utils.mmcv_cuda`)
  and whether SyncBN synchronises across two GPUs. Without CUDA neither applies: tools/train.py
  trains on CPU, with SyncBN replaced by BN (:mod:`mmattn.apis.launch`);
* every file the run reads that is missing: data roots, annotation files and image folders of
  train / val / test (inside dataset wrappers too), evaluator annotation files, ``pretrained`` /
  Pretrained ``init_cfg`` / ``load_from`` checkpoints, each with its fix
  (:mod:`mmattn.utils.sources`). Train and val files block the run; test files only warn;
* parameters and multiply-adds (:func:`mmattn.apis.complexity`) at the training input size;
* ``iters`` training iterations on synthetic data (the sets of :mod:`mmattn.apis.smoke`, not
  shrunk: the config's pipeline, crop and per-GPU batch): seconds per iteration (mean over all
  but the first, warm-up iteration), peak memory of the device (CUDA: max_memory_allocated; CPU:
  the process's resident-set high-water mark, VmHWM, reset before training; dataloader worker
  processes not included) and the ETA of the schedule.

Training input size: segmentation, the crop (the data preprocessor's ``size``, else RandomCrop);
detection, the batch pad size (BatchFixedSizePad) if any, else a 640x480 image (COCO's typical
size) through the train pipeline's resize (the largest scale of a multi-scale choice, ratio 1 of
a RandomResize) and crop, padded to ``pad_size_divisor``. The synthetic COCO images have that
4:3 shape, so the timed iterations run at this size (``trained_input_size`` records it).

The ETA is seconds_per_iter x the schedule's iterations (``max_iters``; or epochs x
ceil(training images / (gpus x per-GPU batch)), the images counted in the annotation file or image
folder when present, else :data:`mmattn.utils.sources.TRAIN_SET_SIZES`), each of the ``gpus``
devices as fast as this one. Not included: validation and checkpoint time, the loading of real
(larger) images, DDP's gradient all-reduce and SyncBN's communication (one process trains, and
mmengine runs SyncBN as BN there).
"""
import copy
import json
import math
import os
import os.path as osp
import re
import shutil
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook

from ..utils.config import drop_pretrained_init, evaluator_list, host_library, walk_dicts
from ..utils.sources import DATA_DOCS, TRAIN_SET_SIZES, fetch_command
from .complexity import complexity
from .launch import enable_amp
from .model import load_config
from .smoke import use_synthetic_data

__all__ = ['format_report', 'preflight']

_REFERENCE_IMAGE = (480, 640)  # (h, w) of a typical COCO image; the synthetic ones are 4:3 too
_SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'nn.SyncBatchNorm')


def preflight(config: Union[str, Config], *, gpus: Optional[int] = None, iters: int = 10,
              amp: bool = False, cfg_options: Optional[dict] = None,
              work_dir: Optional[str] = None, data_root: Optional[str] = None,
              verbose: bool = False) -> Dict[str, Any]:
    """Check this machine for a training run of ``config`` (see the module docstring).

    Args:
        config (str | Config): config file or loaded config (not modified).
        gpus (int, optional): devices (processes) of the run. Default: the visible CUDA
            devices, 1 without CUDA.
        iters (int): training iterations to time; 0 skips the timing. Default: 10.
        amp (bool): time as ``tools/train.py --amp`` trains. Default: False.
        cfg_options (dict, optional): overrides, as ``--cfg-options``.
        work_dir (str, optional): where the timing run writes (default: a temporary folder).
        data_root (str, optional): synthetic sets (default: under ``work_dir``).
        verbose (bool): print a line per timed iteration. Default: False.

    Returns:
        dict: ``device`` (dict), ``mmcv_ops_cuda`` (bool, None without CUDA), ``sync_bn`` (bool
        or None), ``missing_files`` (list of dicts: path, what, needed_by, blocking, fix),
        ``params`` / ``macs`` (int), ``input_size`` / ``trained_input_size`` ([H, W]),
        ``seconds_per_iter``, ``peak_memory_mb``, ``eta_hours`` (float or None),
        ``total_iters`` and ``schedule`` (how they were counted), ``warnings`` and ``problems``
        (lists of "what: fix" lines; a problem blocks the run).
    """
    if iters == 1 or iters < 0:
        raise ValueError(f'iters={iters}: time 0 (skip) or at least 2 iterations (the first '
                         'is a warm-up and does not count)')
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = host_library(cfg)
    path = config if isinstance(config, str) else cfg.filename
    device = _devices()
    gpus = gpus or device['count']
    batch = cfg.train_dataloader.batch_size
    problems, warnings = [], []
    result = dict(config=path, scope=scope, gpus=gpus, batch_size=batch, device=device,
                  mmcv_ops_cuda=None, sync_bn=None, cwd=os.getcwd())

    if device['type'] == 'cuda':
        if gpus > device['count']:
            problems.append(f"--gpus {gpus}, but {device['count']} CUDA device(s) are visible: "
                            'run on a machine with more, or set CUDA_VISIBLE_DEVICES')
        result['mmcv_ops_cuda'] = _check_mmcv_ops(problems)
        result['sync_bn'] = _check_sync_bn(cfg, min(gpus, device['count']), problems, warnings)
    elif _uses_sync_bn(cfg):
        warnings.append('no CUDA: tools/train.py would train on CPU with SyncBN replaced by BN '
                        '(mmattn/apis/launch.py): fine for a check, not for the recipe')

    result['missing_files'] = _missing_files(cfg, path)
    for item in result['missing_files']:
        line = f"missing {item['what']}: {item['path']} (needed by {item['needed_by']}); " \
               f"fix: {item['fix']}"
        (problems if item['blocking'] else warnings).append(line)

    size = _train_input_size(cfg, scope)
    result['input_size'] = list(size)
    try:
        counts = complexity(cfg, size)
        result.update(params=int(counts['params']), macs=int(counts['flops']))
    except Exception as error:  # noqa: BLE001  (reported, the rest of the check goes on)
        result.update(params=None, macs=None)
        problems.append(f'the model does not build or run a forward at {size[0]}x{size[1]}: '
                        f'{_first_line(error)}; fix: tools/smoke_test.py CONFIG reproduces it '
                        'on small inputs')

    if _needs_cuda_amp(cfg) and device['type'] != 'cuda':
        problems.append("the config's AmpOptimWrapper (fp16) needs CUDA: this run cannot train "
                        'here; timed with bf16 autocast instead (as --amp does on CPU)')
    result.update(_time_training(cfg, size, iters, amp, work_dir, data_root, verbose,
                                 problems))
    if result['trained_input_size'] and result['trained_input_size'] != result['input_size']:
        warnings.append(f"timed at {result['trained_input_size']}, not at the input size "
                        f"{result['input_size']} of the MACs: the estimate of the input size "
                        'does not fit this pipeline')
    _check_memory(result, device, gpus, warnings)

    total, schedule = _schedule_iters(cfg, gpus, batch)
    result.update(total_iters=total, schedule=schedule)
    spi = result['seconds_per_iter']
    result['eta_hours'] = spi * total / 3600 if spi is not None and total else None
    if total is None:
        warnings.append(f'no ETA: {schedule}')
    _check_total_batch(cfg, gpus, batch, warnings)
    result.update(warnings=warnings, problems=problems)
    return result


# ---- devices -----------------------------------------------------------------------------

def _devices() -> Dict[str, Any]:
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        props = [torch.cuda.get_device_properties(i) for i in range(count)]
        return dict(type='cuda', count=count, names=[p.name for p in props],
                    memory_mb=[round(p.total_memory / 2**20) for p in props],
                    cuda=torch.version.cuda)
    name = 'CPU'
    if osp.exists('/proc/cpuinfo'):
        match = re.search(r'model name\s*:\s*(.+)', open('/proc/cpuinfo').read())
        name = match.group(1).strip() if match else name
    memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**20
    return dict(type='cpu', count=1, names=[name], cores=os.cpu_count(),
                memory_mb=[round(memory)], cuda=None)


def _check_mmcv_ops(problems: List[str]) -> bool:
    from ..utils.mmcv_cuda import collect_facts, installed_problem, ops_run_on_cuda
    problem = installed_problem(collect_facts())
    if problem is None:
        error = ops_run_on_cuda()
        problem = error and f'mmcv ops fail on the GPU ({error}); fix: rebuild mmcv as ' \
                            'tools/install.sh explains (FORCE_CUDA=1 with nvcc)'
    if problem:
        problems.append(problem.replace('\n', ' '))
    return problem is None


def _uses_sync_bn(cfg: Config) -> bool:
    return bool(walk_dicts(cfg.model, lambda d: d.get('type') in _SYNC_BN_TYPES))


def _check_sync_bn(cfg: Config, world: int, problems: List[str],
                   warnings: List[str]) -> Optional[bool]:
    """Two (or ``world``) NCCL processes: SyncBN's batch mean must be the mean over all ranks."""
    if not _uses_sync_bn(cfg):
        return None
    if world < 2:
        warnings.append('SyncBN not exercised: one GPU (mmengine runs SyncBN as BN without a '
                        'process group)')
        return None
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        context = mp.start_processes(_sync_bn_worker, args=(2, osp.join(tmp, 'init')),
                                     nprocs=2, join=False, start_method='spawn')
        deadline = time.time() + 120
        try:
            while not context.join(timeout=5):
                if time.time() > deadline:
                    raise TimeoutError('2-process SyncBN check did not finish in 120 s')
        except Exception as error:  # noqa: BLE001
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            problems.append(f'SyncBN across 2 GPUs failed: {_first_line(error)}; fix: check '
                            'NCCL (NCCL_DEBUG=INFO python tools/preflight.py ...) or train with '
                            "norm_cfg type='BN'")
            return False
    return True


def _sync_bn_worker(rank: int, world: int, init_file: str) -> None:
    import torch.distributed as dist
    torch.cuda.set_device(rank)
    dist.init_process_group('nccl', init_method=f'file://{init_file}', rank=rank,
                            world_size=world)
    norm = torch.nn.SyncBatchNorm(4, momentum=1.0).cuda()
    x = (rank + torch.linspace(-1, 1, 2 * 4 * 9, device='cuda')).view(2, 4, 3, 3)
    norm(x.requires_grad_()).sum().backward()
    expected = (world - 1) / 2  # mean over the ranks' inputs (each centred on its rank)
    got = norm.running_mean.cpu()
    dist.destroy_process_group()
    if not torch.allclose(got, torch.full_like(got, expected), atol=1e-5):
        raise RuntimeError(f'rank {rank}: SyncBN mean {got.tolist()}, expected {expected}')


# ---- files -------------------------------------------------------------------------------

def _missing_files(cfg: Config, config_path: Optional[str]) -> List[Dict[str, Any]]:
    found: Dict[str, Dict[str, Any]] = {}

    def add(path: str, what: str, needed_by: str, fix: str) -> None:
        key = osp.normpath(path)
        blocking = needed_by != 'test'  # tools/train.py never reads the test set
        if key in found:
            item = found[key]
            if needed_by not in item['needed_by'].split(', '):
                item['needed_by'] += f', {needed_by}'
            item['blocking'] = item['blocking'] or blocking
        else:
            found[key] = dict(path=path, what=what, needed_by=needed_by, blocking=blocking,
                              fix=fix)

    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is not None:
            for leaf in _leaf_datasets(loader.dataset):
                _check_dataset(leaf, split, add)
        evaluator = cfg.get(f'{split}_evaluator') if split != 'train' else None
        for item in evaluator_list(evaluator) if evaluator else []:
            ann = item.get('ann_file')
            if ann and not osp.isfile(ann):
                add(ann, f"{split} evaluator annotation file ({item.get('type')})", split,
                    _data_fix(loader.dataset if loader else {}))
    for key, path in _checkpoint_refs(cfg):
        if '://' not in path and not osp.isfile(path):  # URLs are fetched by the run itself
            add(path, f'checkpoint ({key})', 'model init' if key != 'load_from' else key,
                _checkpoint_fix(key, path, config_path))
    return list(found.values())


def _leaf_datasets(dataset: dict) -> List[dict]:
    """The datasets that read files, inside any wrapper (Repeat-, Concat-, ClassBalanced...)."""
    leaves = []

    def _collect(node: dict) -> None:
        if 'type' in node and 'dataset' not in node and 'datasets' not in node and any(
                key in node for key in ('data_root', 'ann_file', 'data_prefix')):
            leaves.append(node)

    walk_dicts(dataset, _collect)
    return leaves


def _check_dataset(leaf: dict, split: str, add) -> None:
    kind = leaf.get('type')
    root = leaf.get('data_root') or ''
    fix = _data_fix(leaf)
    if root and not osp.isdir(root):
        add(root, f'{split} data_root ({kind})', split, fix)
        return  # everything below it is missing too
    ann = leaf.get('ann_file')
    if ann:
        ann = osp.join(root, ann)
        if not osp.isfile(ann):
            add(ann, f'{split} annotation file ({kind})', split, fix)
    for key, prefix in (leaf.get('data_prefix') or {}).items():
        folder = osp.join(root, prefix) if prefix else None
        if folder and not osp.isdir(folder):
            add(folder, f'{split} {key} folder ({kind})', split, fix)


def _data_fix(dataset: dict) -> str:
    kind = dataset.get('type')
    doc = DATA_DOCS.get(kind) or DATA_DOCS.get(
        next((leaf.get('type') for leaf in _leaf_datasets(dataset)), None))
    if doc:
        return f'prepare the data as {doc} describes (paths are relative to the directory ' \
               'you run from)'
    return 'put the data there, or point data_root / ann_file at it with --cfg-options'


def _checkpoint_refs(cfg: Config) -> List[Tuple[str, str]]:
    refs = []

    def _collect(node: dict) -> None:
        if isinstance(node.get('pretrained'), str):
            refs.append(('pretrained', node['pretrained']))
        if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
            refs.append(('init_cfg', node['checkpoint']))

    walk_dicts(cfg.model, _collect)
    if cfg.get('load_from'):
        refs.append(('load_from', cfg.load_from))
    return refs


def _checkpoint_fix(key: str, path: str, config_path: Optional[str]) -> str:
    command = fetch_command(path)
    if command:
        return command
    match = re.match(r'(?:\./)?work_dirs/([^/]+)/', path)
    if match and config_path:
        stage = osp.join(osp.dirname(config_path), match.group(1) + '.py')
        if osp.isfile(stage):
            return f'train {stage} first, which writes it (tools/dist_train.sh {stage} GPUS)'
    return f'no known source (mmattn/utils/sources.py): put the file there or point {key} at ' \
           'yours with --cfg-options'


# ---- size and schedule --------------------------------------------------------------------

def _hw(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _train_input_size(cfg: Config, scope: str) -> Tuple[int, int]:
    """The (H, W) a training image reaches the network with (module docstring)."""
    preprocessor = cfg.model.get('data_preprocessor') or {}
    pipeline = _leaf_datasets(cfg.train_dataloader.dataset)[0].get('pipeline') or []
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
    key = ann or images
    for known, count in TRAIN_SET_SIZES.items():
        if key.rstrip('/').endswith(known):
            return count, (f'mmattn.utils.sources.TRAIN_SET_SIZES[{known!r}] '
                           f'({osp.join(root, key)} not found)')
    return None, f'{osp.join(root, key)} not found and not in TRAIN_SET_SIZES'


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


def _check_total_batch(cfg: Config, gpus: int, batch: int, warnings: List[str]) -> None:
    scaling = cfg.get('auto_scale_lr') or {}
    base = scaling.get('base_batch_size')
    if base and gpus * batch != base and not scaling.get('enable', False):
        advice = f'run on {base // batch} devices, or ' if base % batch == 0 else ''
        warnings.append(f"total batch {gpus} x {batch} = {gpus * batch}, the recipe's is {base} "
                        f'(auto_scale_lr.base_batch_size) and the lr is not scaled: {advice}'
                        'add --cfg-options auto_scale_lr.enable=True to tools/train.py')


# ---- timing ------------------------------------------------------------------------------

class _IterationClock(Hook):
    """Times each training iteration (end to end, data loading included), records the input
    size the backbone sees, and resets the peak-memory counters before the first one."""

    priority = 'VERY_LOW'  # after the logger: its cost is part of a real iteration

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.ends: List[float] = []
        self.shapes: List[Tuple[int, int, int]] = []  # N, H, W of each backbone input
        self.rss_reset = False

    def before_train(self, runner) -> None:
        model = getattr(runner.model, 'module', runner.model)
        if hasattr(model, 'backbone'):
            model.backbone.register_forward_pre_hook(
                lambda module, args: self.shapes.append(
                    (args[0].shape[0], args[0].shape[-2], args[0].shape[-1])))
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        else:
            self.rss_reset = _reset_rss_peak()
        self.start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())
        if self.verbose:
            last = self.ends[-1] - (self.ends[-2] if len(self.ends) > 1 else self.start)
            print(f'[preflight] iteration {len(self.ends)}/{runner.max_iters}: {last:.2f} s',
                  flush=True)


def _reset_rss_peak() -> bool:
    try:  # Linux >= 4.0: "5" resets VmHWM to the current resident set
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    with open('/proc/self/status') as f:
        return int(re.search(r'VmHWM:\s+(\d+) kB', f.read()).group(1)) / 1024


def _needs_cuda_amp(cfg: Config) -> bool:
    return cfg.optim_wrapper.get('type') == 'AmpOptimWrapper'


def _time_training(cfg: Config, size: Tuple[int, int], iters: int, amp: bool,
                   work_dir: Optional[str], data_root: Optional[str], verbose: bool,
                   problems: List[str]) -> dict:
    out = dict(seconds_per_iter=None, iterations_timed=0, peak_memory_mb=None,
               peak_memory_reserved_mb=None, memory_measure=None, trained_input_size=None,
               trained_batch_size=None)
    if not iters:
        return out
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    batch = cfg.train_dataloader.batch_size
    own_dir = work_dir is None
    work_dir = work_dir or tempfile.mkdtemp(prefix='preflight_')
    try:
        use_synthetic_data(cfg, data_root or osp.join(work_dir, 'synthetic'))
        # n synthetic images x batch: every pass of the sampler is whole batches of this size
        cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=batch,
                                            dataset=cfg.train_dataloader.dataset)
        for split in ('val', 'test'):
            cfg[f'{split}_dataloader'] = cfg[f'{split}_cfg'] = cfg[f'{split}_evaluator'] = None
        drop_pretrained_init(cfg)
        cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=iters, val_interval=10**9)
        cfg.param_scheduler = []
        if amp or (_needs_cuda_amp(cfg) and not torch.cuda.is_available()):
            enable_amp(cfg)
        cfg.default_hooks.checkpoint = None
        cfg.log_level = 'WARNING'
        cfg.work_dir, cfg.launcher, cfg.randomness = work_dir, 'none', dict(seed=0)
        cfg.load_from, cfg.resume = None, False
        clock = _IterationClock(verbose)
        runner = Runner.from_cfg(cfg)
        runner.register_hook(clock)
        runner.train()
    except Exception as error:  # noqa: BLE001  (an OOM is a finding, not a crash)
        if verbose:
            traceback.print_exc()
        fix = ('fewer images per GPU (train_dataloader.batch_size, with more GPUs to keep the '
               'total batch), --amp, or a device with more memory'
               if isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)) else
               'tools/smoke_test.py CONFIG reproduces it on small inputs')
        problems.append(f'training {batch} images of {size[0]}x{size[1]} failed: '
                        f'{_first_line(error)}; '
                        f'fix: {fix}')
        return out
    finally:
        if own_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    ends = clock.ends
    out.update(seconds_per_iter=(ends[-1] - ends[0]) / (len(ends) - 1),
               iterations_timed=len(ends) - 1)
    if clock.shapes:
        largest = max(clock.shapes, key=lambda s: s[1] * s[2])
        out.update(trained_batch_size=largest[0], trained_input_size=list(largest[1:]))
    if torch.cuda.is_available():
        out.update(peak_memory_mb=torch.cuda.max_memory_allocated() / 2**20,
                   peak_memory_reserved_mb=torch.cuda.max_memory_reserved() / 2**20,
                   memory_measure='torch.cuda.max_memory_allocated of the training device')
    else:
        out.update(peak_memory_mb=_rss_peak_mb(), memory_measure=(
            'resident-set high-water mark (VmHWM) of the training process, '
            + ('reset before the first iteration' if clock.rss_reset else
               'since process start (/proc/self/clear_refs not writable)')
            + '; dataloader workers not included'))
    return out


def _check_memory(result: dict, device: dict, gpus: int, warnings: List[str]) -> None:
    peak = result.get('peak_memory_reserved_mb') or result.get('peak_memory_mb')
    if not peak:
        return
    total = device['memory_mb'][0]
    # on CPU the run's processes share one memory; each GPU has its own
    need = peak * gpus if device['type'] == 'cpu' else peak
    if need > 0.9 * total:
        warnings.append(f'{need:.0f} MB of {total} MB: little headroom (DDP adds gradient '
                        'buckets of about the parameters\' size per device)')


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'


# ---- report ------------------------------------------------------------------------------

def format_report(result: Dict[str, Any]) -> str:
    """The human-readable report of :func:`preflight`'s result."""
    device = result['device']
    lines = [f"[preflight] {result['config']} ({result['scope']}): {result['gpus']} device(s) "
             f"x {result['batch_size']} images per iteration, run from {result['cwd']}"]
    if device['type'] == 'cuda':
        names = ', '.join(f'{n} ({m} MB)' for n, m in zip(device['names'], device['memory_mb']))
        lines.append(f"device      CUDA {device['cuda']}: {device['count']} x [{names}]")
        lines.append(f"mmcv ops    CUDA kernels: {'ok' if result['mmcv_ops_cuda'] else 'NO'}")
        sync = {None: 'not checked (not used, or one GPU)', True: 'synchronises across 2 GPUs',
                False: 'FAILED'}[result['sync_bn']]
        lines.append(f'SyncBN      {sync}')
    else:
        lines.append(f"device      no CUDA: {device['names'][0]}, {device['cores']} cores, "
                     f"{device['memory_mb'][0]} MB")
        lines.append('mmcv ops    CUDA kernels: not applicable (no CUDA)')
        lines.append('SyncBN      not applicable: tools/train.py trains on CPU with SyncBN '
                     'replaced by BN (mmattn/apis/launch.py)')
    missing = result['missing_files']
    lines.append(f"files       {len(missing)} missing" + (' (listed below)' if missing else ''))
    h, w = result['input_size']
    if result['params'] is not None:
        counted = ('image -> logits' if result['scope'] == 'mmseg' else
                   'image -> backbone + neck features, heads not counted')
        lines.append(f"model       {result['params'] / 1e6:.2f} M parameters, "
                     f"{result['macs'] / 1e9:.1f} G multiply-adds at {h}x{w} ({counted})")
    if result['seconds_per_iter'] is not None:
        lines.append(f"speed       {result['seconds_per_iter']:.3f} s/iteration (mean of "
                     f"{result['iterations_timed']} after a warm-up one; synthetic data at "
                     f"{result['trained_input_size']}, batch {result['batch_size']})")
        lines.append(f"memory      {result['peak_memory_mb']:.0f} MB peak per device: "
                     f"{result['memory_measure']}")
    else:
        lines.append('speed       not measured')
    eta = result['eta_hours']
    lines.append(f"schedule    {result['total_iters']} iterations ({result['schedule']})")
    lines.append('ETA         ' + (f'{eta:.1f} h ({eta / 24:.1f} days) on {result["gpus"]} '
                                   'device(s), training only' if eta is not None else 'unknown'))
    for title, items in (('warnings', result['warnings']), ('problems', result['problems'])):
        if items:
            lines.append(f'{title} ({len(items)}):')
            lines.extend(f'  - {item}' for item in items)
    lines.append('result      ' + ('BLOCKED: fix the problems above' if result['problems']
                                   else 'nothing blocks the run'))
    return '\n'.join(lines)
