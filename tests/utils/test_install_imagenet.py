"""tools/install.sh's ImageNet step: mmpretrain, and a torchvision that imports with the torch
there, or a note on what the ImageNet stage needs while the rest of the install goes on.

The step runs against a stand-in environment (as in ``test_mmcv_cuda.py``): a fake
``.venv/bin/python`` whose ``torch`` reports the version in a state file, whose ``torchvision``
imports or fails as the state says, and whose ``pip`` records its arguments and "installs" the
registry's torchvision (one that imports, or a build for another torch that does not).
"""
import json
import os
import subprocess

from conftest import REPO
from venv_standin import make_venv, write

_TORCH = '''import json, os
__version__ = json.load(open(os.environ['STANDIN_STATE']))['torch_version']
'''
_TORCHVISION = '''import json, os
_state = json.load(open(os.environ['STANDIN_STATE']))['torchvision']
if _state is None:
    raise ImportError('No module named torchvision (stand-in)')
if _state == 'broken':
    raise RuntimeError('operator torchvision::nms does not exist (stand-in)')
__version__ = _state
'''
_PIP = '''import json, os, sys
path = os.environ['STANDIN_STATE']
state = json.load(open(path))
with open(os.environ['STANDIN_LOG'], 'a') as log:
    log.write(' '.join(sys.argv[1:]) + '\\n')
if 'install' in sys.argv and any(a.startswith('torchvision==') for a in sys.argv):
    state['torchvision'] = state['registry_torchvision']
if 'uninstall' in sys.argv and 'torchvision' in sys.argv:
    state['torchvision'] = None
json.dump(state, open(path, 'w'))
'''
def _install_imagenet(tmp_path, torch_version, torchvision, registry_torchvision):
    standin = tmp_path / 'standin'
    write(str(standin / 'torch' / '__init__.py'), _TORCH)
    write(str(standin / 'torchvision' / '__init__.py'), _TORCHVISION)
    write(str(standin / 'pip.py'), _PIP)
    venv = tmp_path / 'venv'
    make_venv(venv, standin)
    state = tmp_path / 'state.json'
    state.write_text(json.dumps(dict(torch_version=torch_version, torchvision=torchvision,
                                     registry_torchvision=registry_torchvision)))
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'MMATTN_TORCHVISION')}
    env.update(MMATTN_VENV=str(venv), STANDIN_STATE=str(state),
               STANDIN_LOG=str(tmp_path / 'pip.log'))
    proc = subprocess.run(['bash', '-c', 'source tools/install.sh && install_imagenet_stage'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    log = (tmp_path / 'pip.log').read_text() if (tmp_path / 'pip.log').exists() else ''
    return proc, log.splitlines(), json.loads(state.read_text())


def test_the_torchvision_of_torchs_family_is_installed_without_touching_torch(tmp_path):
    proc, pip, state = _install_imagenet(tmp_path, '2.13.0+cu128', None, '0.28.0')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any('requirements/imagenet.txt' in line for line in pip)
    installs = [line for line in pip if 'torchvision==' in line]
    assert len(installs) == 1 and 'torchvision==0.28.*' in installs[0]
    assert '--no-deps' in installs[0]
    assert state['torchvision'] == '0.28.0' and 'NOTE' not in proc.stdout


def test_a_torchvision_that_does_not_import_is_removed_and_the_need_said(tmp_path):
    proc, pip, state = _install_imagenet(tmp_path, '2.13.0+cpu', None, 'broken')
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the rest of the install goes on
    assert state['torchvision'] is None
    assert any('uninstall' in line and 'torchvision' in line for line in pip)
    assert 'NOTE' in proc.stdout and '2.13.0+cpu' in proc.stdout
    assert 'ImageNet stage' in proc.stdout and 'torchvision==0.28.*' in proc.stdout


def test_a_working_torchvision_is_kept(tmp_path):
    proc, pip, state = _install_imagenet(tmp_path, '2.13.0+cpu', '0.28.0+cpu', 'broken')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [line for line in pip if 'torchvision' in line]
    assert state['torchvision'] == '0.28.0+cpu' and 'keeping' in proc.stdout
