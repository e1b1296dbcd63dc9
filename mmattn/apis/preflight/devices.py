"""Devices, mmcv's CUDA kernels and SyncBN across GPUs."""
import os
import os.path as osp
import re
import tempfile
import time
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config

from ...utils.config import walk_dicts
from .timing import _first_line

_SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'nn.SyncBatchNorm')


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
    from ...utils.mmcv_cuda import collect_facts, installed_problem, ops_run_on_cuda
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
                            'NCCL (NCCL_DEBUG=INFO .venv/bin/python tools/preflight.py ...) or train with '
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
