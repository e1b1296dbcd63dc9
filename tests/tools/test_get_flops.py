"""tools/analysis/get_flops.py counts every multiply-add of mmattn's operators."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO

_spec = importlib.util.spec_from_file_location(
    'get_flops', osp.join(REPO, 'tools', 'analysis', 'get_flops.py'))
get_flops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(get_flops)

# Ops that carry multiply-adds: none of them may be left uncounted.
_MAC_OPS = ('conv', 'linear', 'matmul', 'bmm', 'einsum', 'addmm', 'mm', 'baddbmm')


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'eanet_r50_ade20k.py', 'fcn_lambda_r50_d8_ade20k.py',
    'pspnet_xvolution_pssa_r50_d8_ade20k.py', 'upernet_levit256_ade20k.py'
])
def test_every_multiply_add_op_has_a_counting_rule(config):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    result = get_flops.complexity(cfg, (64, 64))
    uncounted = [op for op in result['uncounted'] if any(k in op for k in _MAC_OPS)]
    assert not uncounted, uncounted
    assert result['flops'] > 0 and result['params'] > 1e6


def test_flops_of_the_demo_model_grow_with_the_number_of_pixels():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py'))
    small = get_flops.complexity(cfg, (32, 48))['flops']
    large = get_flops.complexity(cfg, (64, 96))['flops']
    # a convolutional network with a linear-cost attention head: 4x the pixels, 4x the MACs
    assert large / small == pytest.approx(4.0, rel=0.05)
