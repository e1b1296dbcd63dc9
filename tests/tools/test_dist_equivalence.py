"""Two CPU processes with batch 1 each train the same weights as one process with batch 2."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import shrink_config
from tiny_models import tiny_mask_rcnn


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
    """GroupNorm for BatchNorm, no dropout, no RoI sampling: a batch of 2 and 2 x 1 then
    compute the same (up to how each loss is averaged)."""
    if isinstance(node, dict):
        if node.get('type') in ('BN', 'SyncBN'):
            node.clear()
            node.update(type='GN', num_groups=4, requires_grad=True)
        if 'dropout_ratio' in node:
            node['dropout_ratio'] = 0.0
        if node.get('type') == 'RandomSampler':  # draws from torch's stream, per process
            node.clear()
            node.update(type='PseudoSampler')
        for value in node.values():
            _batch_independent(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _batch_independent(value)


def _one_and_two_processes(config, tmp_path, data_root, iters, edit=None):
    """Train ``config`` with 1 process x batch 2 and 2 processes x batch 1; checkpoint dirs."""
    cfg = Config.fromfile(os.path.join(REPO, 'configs', config))
    shrink_config(cfg, data_root, iters=iters)
    if edit is not None:
        edit(cfg)
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
    return tmp_path / 'one', tmp_path / 'two'


def _weights(path):
    return torch.load(path, weights_only=True)['state_dict']


@pytest.mark.slow
def test_two_process_gloo_run_matches_one_process_with_the_same_total_batch(
        tmp_path, synthetic_root):
    one_dir, two_dir = _one_and_two_processes('demo_eanet_r18_synthetic.py', tmp_path,
                                              synthetic_root, iters=3)
    one, two = _weights(one_dir / 'iter_3.pth'), _weights(two_dir / 'iter_3.pth')

    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    # the weights moved between iterations 1 and 3: the match is not one of two initialisations
    first = _weights(one_dir / 'iter_1.pth')
    key = 'decode_head.conv_seg.weight'
    assert (one[key] - first[key]).abs().max() > 1e-4


def _same_image_everywhere(tmp_path):
    """A COCO train set of 4 copies of one annotated image, and a tiny Mask R-CNN."""

    def edit(cfg):
        dataset = cfg.train_dataloader.dataset
        with open(os.path.join(dataset.data_root, dataset.ann_file)) as f:
            coco = json.load(f)
        image = coco['images'][0]
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        coco['images'] = [dict(image, id=i + 1) for i in range(4)]
        coco['annotations'] = [dict(a, id=len(anns) * i + j + 1, image_id=i + 1)
                               for i in range(4) for j, a in enumerate(anns)]
        path = str(tmp_path / 'same_image.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
        dataset.ann_file = path
        tiny_mask_rcnn(cfg)

    return edit


@pytest.mark.slow
def test_two_process_mask_rcnn_matches_one_process_on_identical_images(tmp_path,
                                                                       synthetic_root):
    # mmdet averages each loss over the anchors / RoIs of its process, so 2 x 1 and 1 x 2 agree
    # exactly only when the images yield the same counts: copies of one image do. A DDP that
    # summed instead of averaging the gradients would double the step.
    one_dir, two_dir = _one_and_two_processes('mask_rcnn_ea_r50_fpn_1x_coco.py', tmp_path,
                                              synthetic_root, iters=2,
                                              edit=_same_image_everywhere(tmp_path))
    one_1, one_2 = _weights(one_dir / 'iter_1.pth'), _weights(one_dir / 'iter_2.pth')
    two_2 = _weights(two_dir / 'iter_2.pth')
    keys = [k for k in one_2 if one_2[k].is_floating_point()]
    step = torch.cat([(one_2[k] - one_1[k]).flatten() for k in keys]).norm()
    gap = torch.cat([(two_2[k] - one_2[k]).flatten() for k in keys]).norm()
    assert step > 0
    assert gap / step < 1e-3, f'update {float(step):.3g}, gap between the runs {float(gap):.3g}'
