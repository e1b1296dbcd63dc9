"""Interrupt-and-resume gives the same final weights, bit for bit, as a straight run (CPU)."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import shrink_config
from tiny_models import tiny_mask_rcnn


def _train(cfg_path, work_dir, *extra):
    proc = subprocess.run([sys.executable, 'tools/train.py', cfg_path, '--work-dir', work_dir,
                           *extra], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def _assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


@pytest.mark.slow
def test_iteration_based_segmentation_run_resumes_exactly(tmp_path, synthetic_root):
    # dropout in both heads and random flips/crops/colour jitter in the pipeline
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py'))
    shrink_config(cfg, synthetic_root, iters=4)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    _train(cfg_path, str(tmp_path / 'straight'))
    _train(cfg_path, str(tmp_path / 'split'), '--cfg-options', 'train_cfg.max_iters=2')
    log = _train(cfg_path, str(tmp_path / 'split'), '--resume')
    assert 'restored the random states of the checkpoint' in log
    _assert_bit_identical(_weights(tmp_path / 'straight' / 'iter_4.pth'),
                          _weights(tmp_path / 'split' / 'iter_4.pth'))


@pytest.mark.slow
def test_epoch_based_mask_rcnn_run_resumes_exactly(tmp_path, synthetic_root):
    # RoI sampling, random flips and mmdet's epoch loop with an epoch-boundary resume
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'mask_rcnn_ea_r50_fpn_1x_coco.py'))
    shrink_config(cfg, synthetic_root)
    tiny_mask_rcnn(cfg)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=10)
    cfg.log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    _train(cfg_path, str(tmp_path / 'straight'))
    _train(cfg_path, str(tmp_path / 'split'), '--cfg-options', 'train_cfg.max_epochs=1')
    log = _train(cfg_path, str(tmp_path / 'split'), '--resume')
    assert 'restored the random states of the checkpoint' in log
    _assert_bit_identical(_weights(tmp_path / 'straight' / 'epoch_2.pth'),
                          _weights(tmp_path / 'split' / 'epoch_2.pth'))
