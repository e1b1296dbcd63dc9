"""tools/install.sh on a GPU machine: mmcv's ops must end with CUDA kernels when torch has CUDA.

No GPU or CUDA toolkit is needed: the decision (mmattn/utils/mmcv_cuda.py) is tested on stated
facts, and install.sh's mmcv step runs against a stand-in environment: a fake ``.venv/bin/python``
that puts stand-in ``torch`` / ``mmcv`` packages first on the path (their versions read from a
state file), records every ``pip`` call instead of running it (an mmcv "build" installs a stand-in
mmcv whose kernels follow FORCE_CUDA), and a fake ``nvcc``.
"""
import json
import os
import subprocess

from conftest import REPO
from venv_standin import make_venv, write
from mmattn.utils.mmcv_cuda import build_env, build_problem, installed_problem

CUDA_TORCH = dict(torch_version='2.1.2+cu121', torch_cuda='12.1', mmcv_version='2.1.0',
                  mmcv_ops=True, mmcv_cuda='12.1', cuda_home='/usr/local/cuda',
                  nvcc_version='12.1')


def _facts(**changes):
    return dict(CUDA_TORCH, **changes)


def test_cpu_only_ops_with_a_cuda_torch_are_a_problem_naming_the_fixes():
    problem = installed_problem(_facts(mmcv_cuda='not available'))
    assert 'compiled without CUDA kernels' in problem
    assert ('mmcv==2.1.0 -f https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html'
            in problem)
    assert 'pip cache remove mmcv' in problem and 'CUDA_HOME' in problem
    assert 'MMATTN_ALLOW_CPU_MMCV=1' in problem


def test_matching_cuda_kernels_and_cpu_torch_are_fine():
    assert installed_problem(CUDA_TORCH) is None
    assert installed_problem(_facts(mmcv_cuda='12.4')) is None  # same major: one runtime
    cpu = _facts(torch_version='2.13.0+cpu', torch_cuda=None, mmcv_cuda='not available')
    assert installed_problem(cpu) is None


def test_kernels_of_another_cuda_major_version_are_a_problem():
    assert 'CUDA 11.8' in installed_problem(_facts(mmcv_cuda='11.8'))


def test_allowing_cpu_ops_accepts_them_with_a_cuda_torch():
    assert installed_problem(_facts(mmcv_cuda='not available'), allow_cpu_ops=True) is None


def test_a_cuda_build_needs_nvcc_of_torchs_major_version():
    assert 'needs nvcc: no CUDA_HOME' in build_problem(_facts(cuda_home=None,
                                                              nvcc_version=None))
    assert 'has no bin/nvcc' in build_problem(_facts(nvcc_version=None))
    assert 'CUDA 11.8' in build_problem(_facts(nvcc_version='11.8'))
    assert build_problem(CUDA_TORCH) is None
    assert build_env(CUDA_TORCH) == dict(FORCE_CUDA='1', CUDA_HOME='/usr/local/cuda')
    assert build_env(_facts(torch_cuda=None)) == {}


# ---- tools/install.sh's mmcv step against stand-ins ----------------------------------------

_TORCH = '''import json, os
_state = json.load(open(os.environ['STANDIN_STATE']))
__version__ = _state['torch_version']
class version:
    cuda = _state['torch_cuda']
'''
_CPP_EXTENSION = 'import os\nCUDA_HOME = os.environ.get("CUDA_HOME")\n'
_MMCV = '''import json, os
if json.load(open(os.environ['STANDIN_STATE']))['mmcv'] is None:
    raise ImportError('No module named mmcv (stand-in)')
__version__ = '2.1.0'
'''
_MMCV_OPS = '''import json, os
def nms(*args): pass
def roi_align(*args): pass
def get_compiling_cuda_version():
    return json.load(open(os.environ['STANDIN_STATE']))['mmcv']['cuda']
'''
# pip: recorded; "building" mmcv installs CUDA kernels only with FORCE_CUDA=1, unless the state
# says pip reuses a cached CPU-only wheel.
_PIP = '''import json, os, sys
path = os.environ['STANDIN_STATE']
state = json.load(open(path))
with open(os.environ['STANDIN_LOG'], 'a') as log:
    log.write(' '.join(sys.argv[1:]) + f" FORCE_CUDA={os.environ.get('FORCE_CUDA', '')}"
              f" CUDA_HOME={os.environ.get('CUDA_HOME', '')}\\n")
if 'mmcv==2.1.0' in sys.argv and 'install' in sys.argv:
    cuda = os.environ.get('FORCE_CUDA') == '1' and not state.get('pip_cache_cpu_wheel')
    state['mmcv'] = dict(cuda=state['torch_cuda'] if cuda else 'not available')
    json.dump(state, open(path, 'w'))
'''
def _install_mmcv(tmp_path, torch_cuda='12.1', mmcv=None, nvcc=None, **env):
    """Run install.sh's mmcv step in a stand-in venv. mmcv: None (not installed) or its compiled
    CUDA version ('not available': CPU ops); nvcc: None or the release a fake nvcc reports."""
    standin = tmp_path / 'standin'
    write(str(standin / 'torch' / '__init__.py'), _TORCH)
    write(str(standin / 'torch' / 'utils' / '__init__.py'), '')
    write(str(standin / 'torch' / 'utils' / 'cpp_extension.py'), _CPP_EXTENSION)
    write(str(standin / 'mmcv' / '__init__.py'), _MMCV)
    write(str(standin / 'mmcv' / 'ops' / '__init__.py'), _MMCV_OPS)
    write(str(standin / 'pip.py'), _PIP)
    venv = tmp_path / 'venv'
    make_venv(venv, standin)
    build = 'cu' + torch_cuda.replace('.', '') if torch_cuda else 'cpu'
    state = dict(torch_version=f'2.1.2+{build}', torch_cuda=torch_cuda,
                 mmcv=None if mmcv is None else dict(cuda=mmcv))
    state.update(env.pop('state', {}))
    (tmp_path / 'state.json').write_text(json.dumps(state))
    run_env = {k: v for k, v in os.environ.items() if k not in ('CUDA_HOME', 'PYTHONPATH')}
    run_env.update(MMATTN_VENV=str(venv), STANDIN_STATE=str(tmp_path / 'state.json'),
                   STANDIN_LOG=str(tmp_path / 'pip.log'), **env)
    if nvcc:
        cuda_home = tmp_path / 'cuda'
        write(str(cuda_home / 'bin' / 'nvcc'),
               f'#!/bin/sh\necho "Cuda compilation tools, release {nvcc}, V{nvcc}.0"\n',
               executable=True)
        run_env['CUDA_HOME'] = str(cuda_home)
    proc = subprocess.run(['bash', '-c', 'source tools/install.sh && install_mmcv'], cwd=REPO,
                          env=run_env, capture_output=True, text=True, timeout=120)
    log = (tmp_path / 'pip.log').read_text() if (tmp_path / 'pip.log').exists() else ''
    builds = [line for line in log.splitlines() if 'mmcv==2.1.0' in line]
    return proc, builds, json.loads((tmp_path / 'state.json').read_text())


def test_install_stops_with_the_fix_when_installed_mmcv_lacks_cuda_kernels(tmp_path):
    proc, builds, _ = _install_mmcv(tmp_path, mmcv='not available')
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'compiled without CUDA kernels' in proc.stderr and 'FORCE_CUDA=1' in proc.stderr
    assert 'cannot run on this torch' in proc.stderr
    assert builds == []


def test_install_keeps_a_prebuilt_cuda_wheel(tmp_path):
    proc, builds, _ = _install_mmcv(tmp_path, mmcv='12.1')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'already installed, kept' in proc.stdout
    assert builds == []


def test_install_without_nvcc_stops_before_building(tmp_path):
    proc, builds, _ = _install_mmcv(tmp_path, mmcv=None, nvcc=None)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'needs nvcc' in proc.stderr
    assert builds == []


def test_install_with_nvcc_of_another_major_version_stops_before_building(tmp_path):
    proc, builds, _ = _install_mmcv(tmp_path, mmcv=None, nvcc='11.8')
    assert proc.returncode == 1 and 'refuses a different major version' in proc.stderr
    assert builds == []


def test_install_builds_cuda_kernels_with_force_cuda_for_a_cuda_torch(tmp_path):
    proc, builds, state = _install_mmcv(tmp_path, mmcv=None, nvcc='12.1')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(builds) == 1
    assert 'FORCE_CUDA=1' in builds[0] and f"CUDA_HOME={tmp_path / 'cuda'}" in builds[0]
    assert state['mmcv'] == dict(cuda='12.1')


def test_install_stops_when_the_build_still_lacks_cuda_kernels(tmp_path):
    # pip reuses a wheel it cached from an earlier CPU-only build
    proc, builds, _ = _install_mmcv(tmp_path, mmcv=None, nvcc='12.1',
                                    state=dict(pip_cache_cpu_wheel=True))
    assert len(builds) == 1
    assert proc.returncode == 1 and 'built without the CUDA kernels' in proc.stderr
    assert 'pip cache remove mmcv' in proc.stderr


def test_install_builds_cpu_ops_for_a_cpu_torch_without_nvcc(tmp_path):
    proc, builds, state = _install_mmcv(tmp_path, torch_cuda=None, mmcv=None, nvcc=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(builds) == 1 and 'FORCE_CUDA= ' in builds[0]
    assert state['mmcv'] == dict(cuda='not available')


def test_install_accepts_cpu_ops_when_told_to(tmp_path):
    proc, builds, _ = _install_mmcv(tmp_path, mmcv='not available', MMATTN_ALLOW_CPU_MMCV='1')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'accepted: MMATTN_ALLOW_CPU_MMCV=1' in proc.stdout and builds == []
