"""The operators need torch alone: ``mmattn.layers`` (and ``import mmattn``) in an interpreter
whose only third-party packages are torch, its own dependencies and numpy.

How the environment is made, and why: a fresh interpreter (``python -I -S``: no site-packages,
no user site, no PYTHON* variables) gets one folder on its path holding links to exactly those
packages of the test environment (found from torch's installed requirements, markers
evaluated) and the repository's ``mmattn``. mmengine, mmcv, mmdet, mmseg, timm, ... are then
absent exactly as in a torch-only install, found by no finder (an import blocker would leave
``importlib.util.find_spec`` seeing them), and the test needs no download or second venv build
(a venv from the same torch wheel would need the wheel file, which pip's cache does not keep
as a file).
"""
import importlib.metadata as metadata
import os
import os.path as osp
import re
import subprocess
import sys
import sysconfig

import pytest
from packaging.requirements import Requirement

from conftest import REPO

OPENMMLAB = ('mmengine', 'mmcv', 'mmdet', 'mmseg')


def _closure(*roots: str) -> set:
    """Distribution names of ``roots`` and everything they require (markers evaluated)."""
    seen, todo = set(), list(roots)
    while todo:
        name = re.sub(r'[-_.]+', '-', todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed
        seen.add(name)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({'extra': ''}):
                todo.append(requirement.name)
    return seen


def _link_packages(folder: str, dists: set) -> None:
    """Link every top-level file / folder of the given distributions into ``folder``."""
    site = sysconfig.get_paths()['purelib']
    for name in dists:
        dist = metadata.distribution(name)
        tops = {str(path).split('/')[0] for path in dist.files or []}
        for top in tops:
            source = osp.join(site, top)
            target = osp.join(folder, top)
            if top.endswith('.pth') or top == '..' or not osp.exists(source) or osp.exists(
                    target):
                continue
            os.symlink(source, target)


def _python_with(tmp_path_factory, *roots: str):
    """Run Python code in an interpreter that sees only ``roots``, their dependencies and
    mmattn."""
    folder = str(tmp_path_factory.mktemp('site'))
    _link_packages(folder, _closure(*roots))
    os.symlink(osp.join(REPO, 'mmattn'), osp.join(folder, 'mmattn'))
    prelude = f'import sys; sys.path.insert(0, {folder!r}); '
    return lambda code: subprocess.run([sys.executable, '-I', '-S', '-c', prelude + code],
                                       capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def torch_only_python(tmp_path_factory):
    assert not _closure('torch', 'numpy') & {'mmengine', 'mmcv', 'mmdet', 'mmsegmentation',
                                             'timm'}
    return _python_with(tmp_path_factory, 'torch', 'numpy')


_RUN_EVERY_OPERATOR = '''
import importlib.util, sys
import torch
for name in {openmmlab!r}:
    assert importlib.util.find_spec(name) is None, name + ' is visible'
from mmattn.layers import (ExternalAttention, LambdaLayer, LeViTBlock, LeViTShrinkBlock,
                           LeViTStem, MultiHeadExternalAttention, XVolution, switch_to_deploy)
import mmattn
assert not mmattn.OPENMMLAB_AVAILABLE
torch.manual_seed(0)
x = torch.randn(2, 8, 9, 7, requires_grad=True)
for op in (LambdaLayer(8, 8, r=5), ExternalAttention(8), MultiHeadExternalAttention(8, 2),
           XVolution(8, 8), XVolution(8, 8, attention='sa')):
    op(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0, type(op).__name__
    x.grad = None
    op.eval()
    if hasattr(op, 'switch_to_deploy'):
        with torch.no_grad():
            before = op(x)
            switch_to_deploy(op)
            assert torch.allclose(op(x), before, atol=1e-5), type(op).__name__
tokens = torch.randn(2, 5 * 6, 16, requires_grad=True)
stem = LeViTStem(3, 16)
block, shrink = LeViTBlock(16, 4, 2), LeViTShrinkBlock(16, 24, 4)
out, hw = shrink(*block(tokens, (5, 6)))
out.square().sum().backward()
assert hw == (3, 3) and out.shape == (2, 9, 24) and tokens.grad.abs().sum() > 0
assert stem(torch.randn(1, 3, 32, 32))[-1].shape == (1, 16, 2, 2)
assert not [m for m in sys.modules if m.split('.')[0] in {openmmlab!r} + ('timm',)]
print('torch-only ok', mmattn.__version__)
'''.format(openmmlab=OPENMMLAB)


@pytest.mark.slow
def test_every_operator_runs_forward_backward_and_deploy_with_torch_alone(torch_only_python):
    result = torch_only_python(_RUN_EVERY_OPERATOR)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'torch-only ok' in result.stdout


def test_the_openmmlab_adapters_fail_with_the_missing_package_named(torch_only_python):
    result = torch_only_python('import mmattn.models')
    assert result.returncode != 0
    assert "No module named 'mmcv'" in result.stderr or "No module named 'mmengine'" in \
        result.stderr, result.stderr[-2000:]


def test_a_partial_openmmlab_install_is_named_in_a_warning(tmp_path_factory):
    python = _python_with(tmp_path_factory, 'torch', 'numpy', 'mmengine')
    result = python('import warnings; warnings.simplefilter("always"); import mmattn; '
                    'print(mmattn.OPENMMLAB_AVAILABLE)')
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == 'False'
    assert 'adapters are not registered: mmcv, mmdet, mmseg missing' in result.stderr
