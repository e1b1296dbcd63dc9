"""tools/deploy.py: ONNX export of the deploy form, checked against PyTorch in onnxruntime."""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import build_model, shrink_config
from mmattn.apis.export import TensorForward


def _calibrate(model: torch.nn.Module) -> None:
    """Real BN statistics (the average over two random batches) instead of the init's (0, 1),
    non-trivial BN affines and bias tables: folding every norm and resizing every table then
    changes the numbers, while activations keep the scale of a trained network."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.momentum = None  # cumulative average
                module.weight.copy_(torch.rand(module.num_features, generator=gen) * 0.4 + 0.8)
                module.bias.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
        for name, param in model.named_parameters():
            if name.endswith('attention_biases'):
                param.copy_(torch.randn(param.shape, generator=gen))
        wrapper = TensorForward(model, 'mmseg').train()
        for _ in range(2):
            wrapper(torch.randn(2, 3, 64, 96, generator=gen))
    model.eval()


@pytest.mark.slow
@pytest.mark.parametrize('config, dynamic', [
    ('eanet_r50_ade20k.py', True),
    # adaptive pooling of the PSP / UPerNet heads needs a fixed input size in ONNX
    ('pspnet_xvolution_pssa_r50_d8_ade20k.py', False),
    ('upernet_levit256_ade20k.py', False),
])
def test_export_equals_the_training_form_relative_to_the_output_scale(
        tmp_path, synthetic_root, config, dynamic):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    shrink_config(cfg, synthetic_root)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = build_model(cfg)
    _calibrate(model)
    checkpoint = str(tmp_path / 'weights.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = str(tmp_path / 'model.onnx')
    proc = subprocess.run(
        [sys.executable, 'tools/deploy.py', cfg_path, checkpoint, '--out', out, '--shape', '64',
         '96'], cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    reported = float(re.search(r'relative to the output scale: (\S+)', proc.stdout).group(1))
    assert reported <= 1e-3
    assert ('dynamic height/width' if dynamic else 'fixed height/width') in proc.stdout
    graph = onnx.load(out)
    onnx.checker.check_model(graph)
    assert max(o.version for o in graph.opset_import if o.domain in ('', 'ai.onnx')) >= 17

    # The exported deploy form against the training form of the same weights in float64 (in
    # float32 the LeViT training form is itself 0.6% off: its unfused Linear + BN pairs
    # cancel). Measured: EANet 2.3e-4, PSPNet 1.9e-5, UPerNet-LeViT 6.7e-4 of the output scale.
    import onnxruntime as ort
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    reference = TensorForward(model.double().eval(), 'mmseg').eval()
    for shape in [(64, 96)] + ([(96, 64)] if dynamic else []):
        image = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            (expected, ) = reference(image.double())
        (got, ) = session.run(None, {'image': image.numpy()})
        scale = float(expected.abs().max())
        assert scale > 0
        assert np.abs(got - expected.numpy()).max() <= 2e-3 * scale, shape
