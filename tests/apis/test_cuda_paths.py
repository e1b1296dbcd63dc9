"""The branches only a CUDA machine takes, run on a CPU machine up to the first kernel launch.

``torch.cuda`` is stood in (``tests/cuda_standin.py``: device count, names, properties, memory
queries); what would launch kernels is stood in at its boundary: the two SyncBN processes at
``torch.multiprocessing.start_processes``, preflight's timed training at its Runner (a Runner
that calls the timing hooks around "iterations" that feed the backbone a batch and hold a set
amount of GPU memory). mmcv's op check runs for real and fails at its first CUDA tensor, as it
does on a GPU with CPU-only ops. On a machine with a real GPU these tests are skipped: there the
GPU check (``tools/dev/gpu_check.sh``) runs the real paths.
"""
import argparse
import importlib
import types

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config

from conftest import REPO
from tiny_models import SEG_SMALL
from cuda_standin import CudaStandin
from mmattn.apis.launch import apply_train_args, setup_cpu_distributed
from mmattn.apis.preflight import format_report, preflight

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason='a real GPU is here: tools/dev/gpu_check.sh checks the '
                                'real CUDA paths; the stand-ins are for CPU machines')

SEG = f'{REPO}/configs/eanet_r50_ade20k.py'  # SyncBN, 2 images per GPU
LSJ = f'{REPO}/configs/mask_rcnn_lambda_r101_fpn_lsj_1024_200e_coco.py'  # AmpOptimWrapper
H200_MB = 143771


@pytest.fixture
def skip_macs(monkeypatch):
    """The MAC count builds and traces the model on the device: not what these tests check."""
    module = importlib.import_module('mmattn.apis.preflight')
    monkeypatch.setattr(module, 'complexity', lambda cfg, size: dict(params=0, flops=0))


class _SyncBNProcesses:
    """What ``start_processes(..., join=False)`` returns: ``join`` succeeds or raises."""

    def __init__(self, error=None):
        self.error, self.processes = error, []

    def join(self, timeout=None):
        if self.error is not None:
            raise self.error
        return True


@pytest.fixture
def sync_bn_launch(monkeypatch):
    """Stands in for the two SyncBN processes; ``launch.error`` makes one of them fail."""
    launch = types.SimpleNamespace(error=None, calls=[])

    def start_processes(fn, args=(), nprocs=1, join=True, start_method='spawn'):
        launch.calls.append(dict(fn=fn, args=args, nprocs=nprocs, start_method=start_method))
        return _SyncBNProcesses(launch.error)

    monkeypatch.setattr(mp, 'start_processes', start_processes)
    return launch


class _GpuRunner:
    """Stands in for mmengine's Runner at the first kernel launch: its ``train`` calls the
    registered hooks around ``max_iters`` iterations, each feeding the backbone a batch of the
    config's batch size and crop and holding ``held`` bytes of GPU memory."""

    def __init__(self, cfg, standin, held):
        self.cfg, self.standin, self.held = cfg, standin, held
        self.max_iters = cfg.train_cfg.max_iters
        self.model = types.SimpleNamespace(backbone=torch.nn.Identity())
        self.hooks = []

    def register_hook(self, hook):
        self.hooks.append(hook)

    def train(self):
        size = self.cfg.model.data_preprocessor.get('size') or \
            self.cfg.model.data_preprocessor.batch_augments[0]['size']
        for hook in self.hooks:
            hook.before_train(self)
        for index in range(self.max_iters):
            self.model.backbone(torch.zeros(self.cfg.train_dataloader.batch_size, 3, *size))
            self.standin.peak_allocated = self.held
            self.standin.peak_reserved = int(self.held * 1.05)
            for hook in self.hooks:
                hook.after_train_iter(self, index)


@pytest.fixture
def gpu_runs(monkeypatch):
    """Install the runner stand-in; ``gpu_runs.held`` sets its memory, ``gpu_runs.runners``
    holds the runners built (their ``cfg`` is what training would have run)."""
    timing = importlib.import_module('mmattn.apis.preflight.timing')
    runs = types.SimpleNamespace(held=2**30, runners=[], standin=None)

    def build_runner(cfg, own_visualizer=False):
        runner = _GpuRunner(cfg, runs.standin, runs.held)
        runs.runners.append(runner)
        return runner

    monkeypatch.setattr(timing, 'build_runner', build_runner)
    return runs


# ---- preflight: devices, mmcv kernels, SyncBN ----------------------------------------------

@pytest.mark.usefixtures('skip_macs')
def test_preflight_reports_each_gpu_with_its_name_and_memory(monkeypatch, sync_bn_launch):
    CudaStandin(monkeypatch, count=2)
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['device'] == dict(type='cuda', count=2, names=['NVIDIA H200'] * 2,
                                    memory_mb=[H200_MB] * 2, cuda='13.0')
    assert result['gpus'] == 2  # the visible devices by default
    report = format_report(result)
    assert 'CUDA 13.0' in report and f'NVIDIA H200 ({H200_MB} MB)' in report


@pytest.mark.usefixtures('skip_macs')
def test_preflight_on_cuda_blocks_mmcv_ops_without_cuda_kernels(monkeypatch, sync_bn_launch):
    from mmattn.utils.mmcv_cuda import collect_facts
    if collect_facts()['mmcv_cuda'] != 'not available':
        pytest.skip('needs the CPU-only mmcv ops of a CPU machine')
    CudaStandin(monkeypatch, count=2)
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['mmcv_ops_cuda'] is False
    assert any('mmcv' in line and 'FORCE_CUDA=1' in line for line in result['problems'])


@pytest.mark.usefixtures('skip_macs')
def test_preflight_runs_mmcv_ops_on_the_gpu_and_reports_their_failure(monkeypatch,
                                                                      sync_bn_launch):
    from mmattn.utils import mmcv_cuda
    facts = dict(torch_version='2.11.0+cu130', torch_cuda='13.0', mmcv_version='2.1.0',
                 mmcv_ops=True, mmcv_cuda='13.0', cuda_home='/usr/local/cuda',
                 nvcc_version='13.0')
    monkeypatch.setattr(mmcv_cuda, 'collect_facts', lambda: facts)
    CudaStandin(monkeypatch, count=2)
    # kernels of the right CUDA version, but the ops fail at their first CUDA tensor (here:
    # CPU torch; on a GPU: e.g. kernels for another architecture)
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['mmcv_ops_cuda'] is False
    assert any('mmcv ops' in line and 'GPU' in line for line in result['problems'])

    monkeypatch.setattr(mmcv_cuda, 'ops_run_on_cuda', lambda: None)  # the ops run
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['mmcv_ops_cuda'] is True
    assert not any('mmcv' in line for line in result['problems'])


@pytest.mark.usefixtures('skip_macs')
def test_preflight_checks_syncbn_with_two_gpu_processes(monkeypatch, sync_bn_launch):
    CudaStandin(monkeypatch, count=2)
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['sync_bn'] is True
    launch, = sync_bn_launch.calls
    assert launch['nprocs'] == 2 and launch['start_method'] == 'spawn'
    assert 'synchronises across 2 GPUs' in format_report(result)


@pytest.mark.usefixtures('skip_macs')
def test_preflight_reports_a_failing_syncbn_process_with_the_fix(monkeypatch, sync_bn_launch):
    CudaStandin(monkeypatch, count=2)
    sync_bn_launch.error = mp.ProcessRaisedException('rank 1: SyncBN mean [0.0], expected 0.5',
                                                     1, 4242)
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['sync_bn'] is False
    assert any('SyncBN' in line and 'NCCL' in line for line in result['problems'])


@pytest.mark.usefixtures('skip_macs')
def test_preflight_on_one_gpu_warns_that_syncbn_is_not_exercised(monkeypatch, sync_bn_launch):
    CudaStandin(monkeypatch, count=1)
    result = preflight(SEG, iters=0, cfg_options=SEG_SMALL)
    assert result['sync_bn'] is None and sync_bn_launch.calls == []
    assert any('SyncBN' in line for line in result['warnings'])


@pytest.mark.usefixtures('skip_macs')
def test_preflight_blocks_more_gpus_than_are_visible(monkeypatch, sync_bn_launch):
    CudaStandin(monkeypatch, count=2)
    result = preflight(SEG, gpus=4, iters=0, cfg_options=SEG_SMALL)
    assert any('--gpus 4' in line and '2 CUDA' in line for line in result['problems'])


# ---- preflight: timing, peak memory, AMP ---------------------------------------------------

@pytest.mark.usefixtures('skip_macs')
def test_preflight_reads_peak_memory_per_gpu_from_the_cuda_allocator(monkeypatch, gpu_runs,
                                                                     sync_bn_launch,
                                                                     synthetic_root):
    gpu_runs.standin = CudaStandin(monkeypatch, count=2)
    gpu_runs.held = int(0.6 * H200_MB * 2**20)  # 2 GPUs x 0.6: fine, each has its own memory
    result = preflight(SEG, iters=3, cfg_options=SEG_SMALL, data_root=synthetic_root)
    assert result['peak_memory_mb'] == pytest.approx(0.6 * H200_MB, abs=1)
    assert result['peak_memory_reserved_mb'] == pytest.approx(0.63 * H200_MB, abs=1)
    assert 'max_memory_allocated' in result['memory_measure']
    assert result['iterations_timed'] == 2 and result['seconds_per_iter'] >= 0
    assert result['trained_input_size'] == result['input_size'] == [64, 64]
    assert not any('headroom' in line for line in result['warnings'])
    assert f"{result['peak_memory_mb']:.0f} MB peak per device" in format_report(result)

    gpu_runs.held = int(0.9 * H200_MB * 2**20)  # reserved 0.945 of the GPU
    result = preflight(SEG, iters=3, cfg_options=SEG_SMALL, data_root=synthetic_root)
    need = f'{0.945 * H200_MB:.0f}'
    assert any(need in line and str(H200_MB) in line and 'headroom' in line
               for line in result['warnings'])


@pytest.mark.usefixtures('skip_macs')
def test_preflight_amp_on_cuda_times_fp16_with_dynamic_loss_scaling(monkeypatch, gpu_runs,
                                                                    synthetic_root):
    gpu_runs.standin = CudaStandin(monkeypatch, count=1)
    preflight(SEG, iters=3, amp=True, cfg_options=SEG_SMALL, data_root=synthetic_root)
    wrapper = gpu_runs.runners[-1].cfg.optim_wrapper
    assert wrapper.type == 'AmpOptimWrapper' and wrapper.loss_scale == 'dynamic'


@pytest.mark.usefixtures('skip_macs')
def test_an_fp16_config_on_cuda_is_timed_as_written(monkeypatch, gpu_runs, synthetic_root):
    gpu_runs.standin = CudaStandin(monkeypatch, count=1)
    options = {'model.data_preprocessor.batch_augments.0.size': (64, 64),
               'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False}
    result = preflight(LSJ, iters=3, cfg_options=options, data_root=synthetic_root)
    assert not any('AmpOptimWrapper' in line for line in result['problems'])
    assert gpu_runs.runners[-1].cfg.optim_wrapper.type == 'AmpOptimWrapper'


# ---- tools/train.py --amp and the launcher on CUDA -----------------------------------------

def _args(**kwargs):
    defaults = dict(config='configs/x.py', work_dir=None, launcher='none', amp=False,
                    resume=None, check_finite=False, auto_scale_lr=False)
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def test_train_amp_on_cuda_selects_fp16_with_dynamic_loss_scaling(monkeypatch):
    CudaStandin(monkeypatch)
    cfg = apply_train_args(Config.fromfile(SEG), _args(amp=True))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_multi_gpu_training_on_cuda_keeps_syncbn_and_the_default_ddp(monkeypatch):
    CudaStandin(monkeypatch, count=2)
    cfg = Config.fromfile(SEG)
    assert setup_cpu_distributed(cfg, 'pytorch') is False
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN' and 'model_wrapper_cfg' not in cfg
