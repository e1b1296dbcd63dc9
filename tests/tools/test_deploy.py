"""tools/deploy.py: ONNX export of the deploy form, checked against PyTorch in onnxruntime."""
import os
import os.path as osp
import re
import subprocess
import sys

import onnx
import pytest
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import shrink_config


@pytest.mark.slow
@pytest.mark.parametrize('config, dynamic', [
    ('eanet_r50_ade20k.py', True),
    # adaptive pooling of the PSP / UPerNet heads needs a fixed input size in ONNX
    ('pspnet_xvolution_pssa_r50_d8_ade20k.py', False),
    ('upernet_levit256_ade20k.py', False),
])
def test_export_matches_pytorch_within_1e_4(tmp_path, synthetic_root, config, dynamic):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    shrink_config(cfg, synthetic_root)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    out = str(tmp_path / 'model.onnx')
    proc = subprocess.run(
        [sys.executable, 'tools/deploy.py', cfg_path, 'none', '--out', out, '--shape', '64',
         '96'], cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    diff = float(re.search(r'max abs difference to PyTorch: (\S+)', proc.stdout).group(1))
    assert diff <= 1e-4
    assert ('dynamic height/width' if dynamic else 'fixed height/width') in proc.stdout
    graph = onnx.load(out)
    onnx.checker.check_model(graph)
    assert max(o.version for o in graph.opset_import if o.domain in ('', 'ai.onnx')) >= 17
