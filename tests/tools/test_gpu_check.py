"""tools/dev/gpu_check.sh, the acceptance command for a lent GPU, run here on CPU.

What runs on CPU: the environment report, the device tests, both OpenMMLab training steps
(bf16 autocast, as ``--amp`` on CPU), the report and the exit code. What only a GPU shows:
fp16 with loss scaling, inductor, CUDA timings, mmcv's CUDA kernels (docs/testing.md).
"""
import os
import subprocess
import sys

import pytest

from conftest import REPO


def _gpu_check(tmp_path, *args, wheels=None):
    out = tmp_path / 'report.md'
    cmd = ['bash', 'tools/dev/gpu_check.sh', '--python', sys.executable, '--out', str(out),
           *args]
    if wheels:
        cmd += ['--wheels', str(wheels)]
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    return proc, out.read_text() if out.exists() else ''


def _rows(report: str) -> dict:
    """check -> (verdict, number) from the report's table."""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 4 and cells[1] in ('PASS', 'FAIL', 'SKIP'):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


@pytest.mark.slow
def test_on_cpu_the_tests_and_training_steps_pass_and_are_reported(tmp_path):
    proc, report = _gpu_check(tmp_path, '--device', 'cpu', '--only', 'environment',
                              'layer-tests', 'eanet-step', 'levit-det-step')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _rows(report)
    assert {name: verdict for name, (verdict, _) in rows.items()} == {
        'environment': 'PASS', 'layer-tests': 'PASS', 'eanet-step': 'PASS',
        'levit-det-step': 'PASS'}
    assert ' 0 failed' in rows['layer-tests'][1]
    assert 'loss' in rows['eanet-step'][1] and 'BF16OptimWrapper' in report
    assert 'torch 2' in report and 'machine:' in report


def test_a_failing_check_fails_the_run_and_is_named(tmp_path):
    # on a machine without CUDA, --device cuda fails the environment check at once
    proc, report = _gpu_check(tmp_path, '--device', 'cuda', '--only', 'environment')
    assert proc.returncode == 1
    assert _rows(report)['environment'][0] == 'FAIL'
    assert 'FAILED' in report.splitlines()[0]


@pytest.mark.slow
def test_a_wheel_folder_is_installed_offline_into_a_temporary_path(tmp_path):
    # a wheel of a tiny package, made here: no network, nothing installed outside the run
    src = tmp_path / 'src'
    (src / 'gpu_check_probe').mkdir(parents=True)
    (src / 'gpu_check_probe' / '__init__.py').write_text('')
    (src / 'setup.py').write_text("from setuptools import setup\nsetup(name='gpu_check_probe', "
                                  "version='1.0', packages=['gpu_check_probe'])\n")
    wheels = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q',
                    '--no-deps', '--no-build-isolation', '-w', str(wheels), str(src)],
                   check=True, capture_output=True, timeout=300)
    proc, report = _gpu_check(tmp_path, '--device', 'cpu', '--only', 'environment',
                              wheels=wheels)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'installed for this run: 1 wheels' in report and 'gpu_check_probe' in report
