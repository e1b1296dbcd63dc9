"""What ``tools/train.py`` and ``tools/test.py`` do to a config before mmengine's Runner gets it.

One set of tools serves mmdet, mmseg and mmpretrain configs (the ImageNet stage): the host
library is read from the config's ``default_scope`` and only the few runner details that differ
between them branch on it.

Multi-process training without CUDA: mmengine's own ``init_dist('pytorch')`` calls
``torch.cuda.set_device`` and DDP is built with ``device_ids=[LOCAL_RANK]``, both of which fail on
a CPU machine. :func:`setup_cpu_distributed` initialises a gloo process group first (the Runner
then skips its own initialisation), builds DDP with ``device_ids=None`` and turns SyncBN, which
needs CUDA tensors to synchronise, into BN. Each of these changes is logged.
"""
import argparse
import logging
import os
import os.path as osp
import subprocess
import uuid
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

from ..utils.config import evaluator_list, host_library, replace_sync_bn
from ..utils.submission import enable_format_only
from .reparameterize import deploy_config, is_deploy_checkpoint

__all__ = [
    'add_common_args', 'apply_test_args', 'apply_train_args', 'build_runner', 'check_host_imports',
    'config_from_args',
    'enable_amp', 'setup_cpu_distributed', 'total_batch_warning', 'world_size'
]

def add_common_args(parser: argparse.ArgumentParser, example: str) -> None:
    """The options train.py and test.py share: --cfg-options, --launcher, --local_rank."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config entries, e.g. {example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def config_from_args(args: argparse.Namespace) -> Config:
    """``args.config`` with ``--cfg-options`` merged; exports LOCAL_RANK for the launcher."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def build_runner(cfg: Config, own_visualizer: bool = False):
    """mmengine's Runner for ``cfg``, or the config's own ``runner_type``.

    ``own_visualizer=True`` is for library functions that build several Runners in one process
    (smoke test, preflight, demo): mmdet's and mmseg's runtimes name the visualizer
    ``'visualizer'`` and mmengine hands back the existing instance of a name, so a second Runner
    would log into the first one's work_dir, which may be deleted by then. A name of its own
    gives each Runner its own visualizer.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if own_visualizer and cfg.get('visualizer'):
        cfg.visualizer['name'] = f'{cfg.visualizer.get("name", "visualizer")}_{uuid.uuid4().hex}'
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def _slurm_env() -> None:
    """Fill torchrun's variables from SLURM's so that ``env://`` works under srun."""
    if 'SLURM_PROCID' not in os.environ or 'RANK' in os.environ:
        return
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_PORT', '29500')


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare multi-process training on a machine without CUDA; no-op otherwise.

    Returns:
        bool: Whether the CPU path was taken.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher not in ('pytorch', 'slurm'):
        raise ValueError(f'launcher {launcher!r} is not supported without CUDA; use pytorch '
                         '(tools/dist_train.sh) or slurm.')
    if launcher == 'slurm':
        _slurm_env()
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', init_method='env://')
    rank = dist.get_rank()
    if rank == 0:
        print_log(f'no CUDA: gloo process group of {dist.get_world_size()} CPU processes',
                  logger='current')
    cfg.model_wrapper_cfg = ConfigDict(
        type='MMDistributedDataParallel', device_ids=None,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if rank == 0:
        print_log('no CUDA: DistributedDataParallel on CPU (device_ids=None)', logger='current')
    replaced = replace_sync_bn(cfg)
    if replaced and rank == 0:
        print_log(f'no CUDA: SyncBN replaced by BN in {replaced} norm configs (SyncBN '
                  'synchronises CUDA tensors only)', logger='current')
    return True


def enable_amp(cfg: Config) -> None:
    """``--amp``: fp16 with dynamic loss scaling on CUDA, bf16 autocast on CPU (logged)."""
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'OptimWrapper') not in ('OptimWrapper', 'AmpOptimWrapper'):
        print_log(f'--amp: optim_wrapper type {wrapper.type} left as it is', logger='current')
        return
    if torch.cuda.is_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        print_log('--amp: fp16 AmpOptimWrapper with dynamic loss scaling', logger='current')
    else:
        wrapper.type = 'BF16OptimWrapper'
        wrapper.pop('loss_scale', None)
        print_log('--amp without CUDA: bf16 autocast on CPU (BF16OptimWrapper)',
                  logger='current')


def world_size(launcher: str) -> int:
    """Processes (GPUs) of a run started with ``launcher``, from its environment variables
    (torchrun's ``WORLD_SIZE``, SLURM's ``SLURM_NTASKS``, Open MPI's
    ``OMPI_COMM_WORLD_SIZE``); 1 for ``'none'``."""
    variable = dict(pytorch='WORLD_SIZE', slurm='SLURM_NTASKS',
                    mpi='OMPI_COMM_WORLD_SIZE').get(launcher)
    if variable is None:
        return 1
    if 'WORLD_SIZE' in os.environ:  # torchrun, and srun after _slurm_env
        return int(os.environ['WORLD_SIZE'])
    return int(os.environ.get(variable, 1))


def total_batch_warning(cfg: Config, gpus: int) -> Optional[str]:
    """Why ``gpus`` x the per-GPU batch trains at another lr than the recipe's; None if it does
    not.

    A config's ``auto_scale_lr.base_batch_size`` is the total batch its lr was tuned for. With
    auto-scaling off, another total batch (a 4-GPU recipe on 8 GPUs: twice the batch) trains
    at the same lr, silently. ``tools/train.py`` logs this warning and ``tools/preflight.py``
    reports it.
    """
    scaling = cfg.get('auto_scale_lr') or {}
    base = scaling.get('base_batch_size')
    batch = (cfg.get('train_dataloader') or {}).get('batch_size')
    if not base or not batch or gpus * batch == base or scaling.get('enable', False):
        return None
    advice = f'run on {base // batch} devices, or ' if base % batch == 0 else ''
    return (f"total batch {gpus} x {batch} = {gpus * batch}, the recipe's is {base} "
            f'(auto_scale_lr.base_batch_size) and the lr is not scaled: {advice}'
            'add --auto-scale-lr to tools/train.py (or --cfg-options '
            'auto_scale_lr.enable=True)')


def _enable_auto_scale_lr(cfg: Config) -> None:
    scale = cfg.get('auto_scale_lr')
    if not isinstance(scale, dict) or 'base_batch_size' not in scale:
        raise KeyError('--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                       'base_batch_size=N)` in the config: N is the total batch its lr is for')
    scale['enable'] = True  # the Runner scales lr by (GPUs x per-GPU batch) / base_batch_size


def check_host_imports(scope: str) -> None:
    """Stop before the Runner when the host library cannot run here, saying what to install.

    mmpretrain's models, datasets and metrics import torchvision, which some torch builds have
    no working release of (a CPU torch with the registry's CUDA torchvision, say): without this
    check a run would end in a traceback from deep inside mmpretrain.
    """
    if scope != 'mmpretrain':
        return
    try:
        import torchvision  # noqa: F401
    except Exception as error:  # ImportError, or a build that fails to load its operators
        raise ImportError(
            f'this mmpretrain config needs torchvision, which does not import here '
            f'({type(error).__name__}: {error}). Install the torchvision built for torch '
            f'{torch.__version__} (tools/install.sh prints the command when it cannot), or set '
            "MMATTN_TORCHVISION='torchvision==X' and run tools/install.sh again.") from error


def _default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def apply_train_args(cfg: Config, args) -> Config:
    """``tools/train.py`` options: work dir, AMP, resume, finite checks, launcher."""
    check_host_imports(host_library(cfg))
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or _default_work_dir(args.config)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        _enable_auto_scale_lr(cfg)
    hooks = [dict(type='RNGStateHook')]  # exact --resume, see mmattn/engine/hooks.py
    if args.check_finite:
        hooks.append(dict(type='FiniteCheckHook'))
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + hooks
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    setup_cpu_distributed(cfg, args.launcher)
    warning = total_batch_warning(cfg, world_size(args.launcher))
    if warning and int(os.environ.get('RANK', 0)) == 0:
        print_log(warning, logger='current', level=logging.WARNING)
    return cfg


def apply_test_args(cfg: Config, args) -> Config:
    """``tools/test.py`` options: checkpoint, work dir, --out, --show-dir, --tta, --deploy,
    --format-only."""
    scope = host_library(cfg)
    check_host_imports(scope)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or _default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        _enable_visualisation(cfg, scope, args)
    if args.tta:
        for key in ('tta_model', 'tta_pipeline'):
            if key not in cfg:
                raise KeyError(f'--tta needs `{key}` in the config; mmattn configs inherit it '
                               "from the host's default_runtime / dataset bases.")
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        _dump_results(cfg, scope, args.out)
    if args.format_only:
        args.submission_dir = args.submission_dir or osp.join(cfg.work_dir, 'submission')
        enable_format_only(cfg, scope, args.submission_dir)
    if args.deploy:
        _enable_deploy(cfg, args.checkpoint)
    setup_cpu_distributed(cfg, args.launcher)
    return cfg


def _enable_deploy(cfg: Config, checkpoint: str) -> None:
    """A deploy checkpoint (reparameterize_model.py) loads into the deploy-form model; a training
    checkpoint loads into the training form, converted before testing (SwitchToDeployHook)."""
    if is_deploy_checkpoint(checkpoint):
        if not deploy_config(cfg):
            raise ValueError(f'--deploy: {checkpoint} is a deploy checkpoint, but the model of '
                             'this config has no module with a deploy form')
        print_log(f'--deploy: {checkpoint} is a deploy checkpoint; model built with deploy=True',
                  logger='current')
    else:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='SwitchToDeployHook')]


def _enable_visualisation(cfg: Config, scope: str, args) -> None:
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise KeyError('--show/--show-dir need a `visualization` hook in default_hooks.')
    if scope == 'mmpretrain':  # mmpretrain's VisualizationHook: enable / show / out_dir
        hook['enable'] = True
        hook['show'] = bool(args.show)
        if args.show_dir:
            hook['out_dir'] = args.show_dir
        return
    hook['draw'] = True
    if args.show:
        hook['show'] = True
    if args.show_dir:
        if scope == 'mmdet':
            hook['test_out_dir'] = args.show_dir
        else:
            cfg.visualizer['save_dir'] = args.show_dir


def _dump_results(cfg: Config, scope: str, out: str) -> None:
    if scope in ('mmdet', 'mmpretrain'):
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out for a {scope} config must end with .pkl, got {out}')
        dump = 'DumpDetResults' if scope == 'mmdet' else 'DumpResults'
        cfg.test_evaluator = evaluator_list(cfg.test_evaluator) + [
            dict(type=dump, out_file_path=out)]
    else:
        # mmseg writes one PNG per image into this folder.
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True
