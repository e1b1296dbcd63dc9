"""The README demo trains, evaluates and writes prediction pictures (shortened here)."""
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import REPO


@pytest.mark.slow
def test_demo_trains_reports_miou_and_writes_prediction_pngs(tmp_path):
    work_dir = tmp_path / 'demo'
    proc = subprocess.run(
        [sys.executable, 'tools/demo.py', '--iters', '20', '--work-dir', str(work_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'held-out mIoU' in proc.stdout
    pngs = sorted((work_dir / 'predictions').glob('*.png'))
    assert len(pngs) == 24
    with Image.open(pngs[0]) as panel:
        assert panel.size == (3 * 96 * 3, 64 * 3)  # image | truth | prediction, 3x enlarged
