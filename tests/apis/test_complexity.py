"""mmattn.apis.complexity (tools/analysis/get_flops.py) counts every multiply-add of mmattn's
operators."""
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import complexity

# Ops that carry multiply-adds: none of them may be left uncounted.
_MAC_OPS = ('conv', 'linear', 'matmul', 'bmm', 'einsum', 'addmm', 'mm', 'baddbmm')


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'eanet_r50_ade20k.py', 'fcn_lambda_r50_d8_ade20k.py',
    'pspnet_xvolution_pssa_r50_d8_ade20k.py', 'upernet_levit256_ade20k.py'
])
def test_every_multiply_add_op_has_a_counting_rule(config):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    result = complexity(cfg, (64, 64))
    uncounted = [op for op in result['uncounted'] if any(k in op for k in _MAC_OPS)]
    assert not uncounted, uncounted
    assert result['flops'] > 0 and result['params'] > 1e6


def test_flops_of_the_demo_model_grow_with_the_number_of_pixels():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py'))
    small = complexity(cfg, (32, 48))['flops']
    large = complexity(cfg, (64, 96))['flops']
    # a convolutional network with a linear-cost attention head: 4x the pixels, 4x the MACs
    assert large / small == pytest.approx(4.0, rel=0.05)


def _macs(model, *shape):
    import torch
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model.eval(), (torch.randn(*shape), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total()


@pytest.mark.slow
@pytest.mark.parametrize('arch, paper_mflops', [('128s', 305), ('256', 1120)])
def test_levit_multiply_adds_at_224_match_the_paper(arch, paper_mflops):
    from mmattn.models.backbones import LeViT
    # the paper's count includes the 1000-class classifier: 0.4-1.0 MMACs, negligible here
    macs = _macs(LeViT(arch=arch, out_indices=(4, )), 1, 3, 224, 224)
    assert macs / 1e6 == pytest.approx(paper_mflops, rel=0.05)


def test_external_attention_at_the_paper_setting_matches_its_table():
    from mmattn.layers import ExternalAttention
    module = ExternalAttention(512, num_memory=64)
    params = sum(p.numel() for p in module.parameters())
    macs = _macs(module, 1, 512, 128, 128)
    assert params / 1e6 == pytest.approx(0.55, rel=0.10)  # paper: about 0.55M
    assert macs / 1e9 == pytest.approx(9.2, rel=0.10)  # paper: 9.2 GMACs
