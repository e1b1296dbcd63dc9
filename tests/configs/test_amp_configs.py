"""--amp on a CPU machine (bf16 autocast) trains every method's detector with a finite loss.

The Mask R-CNNs are the configs' with narrow ResNet-50 backbones (tests/tiny_models.py): every
operator of the method, the FPN and the heads runs under autocast as in the full model.
"""
import math
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import run_smoke_test
from tiny_models import tiny_mask_rcnn


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'mask_rcnn_lambda_r50_fpn_1x_coco.py',
    'mask_rcnn_ea_r50_fpn_1x_coco.py',
    'mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py',
    'retinanet_levit256_fpn_1x_coco.py',
])
def test_bf16_training_gives_a_finite_loss(tmp_path, synthetic_root, config):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    if config.startswith('mask_rcnn'):
        tiny_mask_rcnn(cfg, depth=50)
    result = run_smoke_test(cfg, str(tmp_path), amp=True, data_root=synthetic_root, iters=2)
    assert result['runner'].optim_wrapper.__class__.__name__ == 'BF16OptimWrapper'
    assert math.isfinite(result['train_loss']) and result['train_loss'] > 0
