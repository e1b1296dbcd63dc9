"""Two CPU processes with batch 1 each train the same weights as one process with batch 2."""
import os
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmattn.utils.smoke import shrink_config


def _run(args, **env):
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=REPO, PYTHON=sys.executable, **env))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _batch_independent(node):
    """GroupNorm for BatchNorm, no dropout: then a batch of 2 and 2 x 1 compute the same."""
    if isinstance(node, dict):
        if node.get('type') in ('BN', 'SyncBN'):
            node.clear()
            node.update(type='GN', num_groups=4, requires_grad=True)
        if 'dropout_ratio' in node:
            node['dropout_ratio'] = 0.0
        for value in node.values():
            _batch_independent(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _batch_independent(value)


@pytest.mark.slow
def test_two_process_gloo_run_matches_one_process_with_the_same_total_batch(
        tmp_path, synthetic_root):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py'))
    shrink_config(cfg, synthetic_root, iters=3)
    _batch_independent(cfg.model)
    # deterministic pipeline: every process would otherwise draw the same augmentations
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] not in ('RandomFlip', 'PhotoMetricDistortion')
    ]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=1)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)

    _run([sys.executable, 'tools/train.py', cfg_path, '--work-dir', str(tmp_path / 'one')])
    log = _run(['bash', 'tools/dist_train.sh', cfg_path, '2', '--work-dir',
                str(tmp_path / 'two'), '--cfg-options', 'train_dataloader.batch_size=1'],
               PORT=str(_free_port()))
    assert 'gloo process group of 2 CPU processes' in log

    one = torch.load(tmp_path / 'one' / 'iter_3.pth', weights_only=True)['state_dict']
    two = torch.load(tmp_path / 'two' / 'iter_3.pth', weights_only=True)['state_dict']
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    # the weights moved between iterations 1 and 3: the match is not one of two initialisations
    first = torch.load(tmp_path / 'one' / 'iter_1.pth', weights_only=True)['state_dict']
    key = 'decode_head.conv_seg.weight'
    assert (one[key] - first[key]).abs().max() > 1e-4
