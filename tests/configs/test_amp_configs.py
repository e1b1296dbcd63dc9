"""--amp on a CPU machine (bf16 autocast) trains every method's detector with a finite loss."""
import math
import os.path as osp

import pytest

from conftest import REPO
from mmattn.apis import run_smoke_test


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'mask_rcnn_lambda_r50_fpn_1x_coco.py',
    'mask_rcnn_ea_r50_fpn_1x_coco.py',
    'mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py',
    'retinanet_levit256_fpn_1x_coco.py',
])
def test_bf16_training_gives_a_finite_loss(tmp_path, synthetic_root, config):
    result = run_smoke_test(osp.join(REPO, 'configs', config), str(tmp_path), amp=True,
                            data_root=synthetic_root, iters=2)
    assert result['runner'].optim_wrapper.__class__.__name__ == 'BF16OptimWrapper'
    assert math.isfinite(result['train_loss']) and result['train_loss'] > 0
