"""A few timed training iterations on synthetic data at the real size; peak memory."""
import copy
import os.path as osp
import re
import shutil
import tempfile
import time
import traceback
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook

from ...utils.config import drop_pretrained_init
from ..launch import build_runner, enable_amp
from ..smoke import use_synthetic_data


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
        runner = build_runner(cfg, own_visualizer=True)
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
