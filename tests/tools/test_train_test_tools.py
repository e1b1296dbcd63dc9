"""tools/train.py, tools/test.py and tools/dist_train.sh, run as a user runs them."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import shrink_config
from tiny_models import tiny_mask_rcnn

DET_CONFIG = osp.join(REPO, 'configs', 'mask_rcnn_ea_r50_fpn_1x_coco.py')
SEG_CONFIG = osp.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py')


def _small_config(src: str, data_root: str, out: str, iters: int = 2) -> str:
    cfg = Config.fromfile(src)
    shrink_config(cfg, data_root, iters=iters)
    if src == DET_CONFIG:  # the tools are under test, not the detector: a narrow one
        tiny_mask_rcnn(cfg, depth=50)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.dump(out)
    return out


def _run(args, **kwargs) -> str:
    env = dict(os.environ, PYTHONPATH=REPO, PYTHON=sys.executable)
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, **kwargs)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize('config, metric, options', [
    # score_thr 0: a 2-iteration detector scores below mmdet's 0.05; the metric needs boxes
    (DET_CONFIG, 'coco/bbox_mAP', ['--cfg-options', 'model.test_cfg.rcnn.score_thr=0']),
    (SEG_CONFIG, 'mIoU', []),
])
def test_train_two_iterations_then_test_the_checkpoint(tmp_path, synthetic_root, config,
                                                       metric, options):
    cfg = _small_config(config, synthetic_root, str(tmp_path / 'cfg.py'))
    work_dir = tmp_path / 'train'
    log = _run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir)])
    assert 'Iter(train) [2/2]' in log
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.exists()
    log = _run([sys.executable, 'tools/test.py', cfg, str(checkpoint), '--work-dir',
                str(tmp_path / 'test')] + options)
    assert metric in log and 'Load checkpoint from' in log


@pytest.mark.slow
def test_resume_flag_continues_from_the_last_checkpoint(tmp_path, synthetic_root):
    cfg = _small_config(SEG_CONFIG, synthetic_root, str(tmp_path / 'cfg.py'))
    work_dir = tmp_path / 'train'
    _run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir)])
    log = _run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir), '--resume',
                '--cfg-options', 'train_cfg.max_iters=3'])
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [3/3]' in log


@pytest.mark.slow
def test_dist_train_runs_two_cpu_processes_with_gloo(tmp_path, synthetic_root):
    cfg = _small_config(SEG_CONFIG, synthetic_root, str(tmp_path / 'cfg.py'))
    work_dir = tmp_path / 'dist'
    env_port = dict(PORT=str(_free_port()))
    os.environ.update(env_port)
    try:
        log = _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', str(work_dir)])
    finally:
        os.environ.pop('PORT', None)
    assert 'gloo process group of 2 CPU processes' in log
    assert 'DistributedDataParallel on CPU' in log
    assert (work_dir / 'iter_2.pth').exists()


def test_a_config_outside_mmdet_mmseg_and_mmpretrain_is_refused_naming_its_scope(tmp_path):
    cfg = tmp_path / 'plain.py'
    cfg.write_text("default_scope = 'mmpose'\nmodel = dict(type='X')\n")
    proc = subprocess.run([sys.executable, 'tools/train.py', str(cfg)], cwd=REPO,
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode != 0
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith('ValueError') and 'mmpose' in error and 'mmpretrain' in error


# tools/train.py, run with every import of torchvision failing (as on a CPU torch whose registry
# torchvision is a CUDA build): argv[1:] are train.py's arguments.
_WITHOUT_TORCHVISION = """
import runpy, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torchvision':
            raise ImportError('torchvision blocked by the test')
sys.meta_path.insert(0, Refuse())
sys.argv = ['tools/train.py'] + sys.argv[1:]
runpy.run_path('tools/train.py', run_name='__main__')
"""


def test_an_mmpretrain_config_without_torchvision_stops_before_the_runner_saying_so(tmp_path):
    cfg = tmp_path / 'in1k.py'
    cfg.write_text("default_scope = 'mmpretrain'\nmodel = dict(type='ImageClassifier')\n")
    proc = subprocess.run([sys.executable, '-c', _WITHOUT_TORCHVISION, str(cfg), '--work-dir',
                           str(tmp_path / 'work')], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode != 0
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith('ImportError') and 'torchvision' in error
    assert 'mmpretrain' in error and torch.__version__ in error
    assert not (tmp_path / 'work').exists()  # stopped before the Runner made its work_dir
