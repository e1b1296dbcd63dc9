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

Training input size: classification (mmpretrain), the train pipeline's last crop or resize
(RandomResizedCrop's ``scale``); segmentation, the crop (the data preprocessor's ``size``, else RandomCrop);
detection, the batch pad size (BatchFixedSizePad) if any, else a 640x480 image (COCO's typical
size) through the train pipeline's resize (the largest scale of a multi-scale choice, ratio 1 of
a RandomResize) and crop, padded to ``pad_size_divisor``. The synthetic COCO images have that
4:3 shape, so the timed iterations run at this size (``trained_input_size`` records it).

The ETA is seconds_per_iter x the schedule's iterations (``max_iters``; or epochs x
ceil(training images / (gpus x per-GPU batch)), the images counted in the annotation file or image
folder when present, else :data:`mmattn.utils.sources.TRAIN_SET_SIZES`: for an ImageNet config
without the data, ImageNet-1k's 1,281,167 training images), each of the ``gpus``
devices as fast as this one. Not included: validation and checkpoint time, the loading of real
(larger) images, DDP's gradient all-reduce and SyncBN's communication (one process trains, and
mmengine runs SyncBN as BN there).
"""
import os
from typing import Any, Dict, Optional, Union

from mmengine.config import Config

from ...utils.config import host_library
from ..complexity import complexity
from ..launch import total_batch_warning
from ..model import load_config
from .devices import _check_mmcv_ops, _check_sync_bn, _devices, _uses_sync_bn
from .files import _missing_files
from .report import format_report
from .schedule import _schedule_iters, _train_input_size
from .timing import _check_memory, _first_line, _needs_cuda_amp, _time_training

__all__ = ['format_report', 'preflight']


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
    batch_warning = total_batch_warning(cfg, gpus)
    if batch_warning:
        warnings.append(batch_warning)
    result.update(warnings=warnings, problems=problems)
    return result
