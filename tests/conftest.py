"""Shared fixtures: one synthetic data root per test session (written once, read by all);
``--device``; test modules that need a missing OpenMMLab package are skipped, saying which."""
import importlib.util
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # configs' custom_imports and the tools import mmattn from the repo
    sys.path.insert(0, REPO)


OPENMMLAB = ('mmengine', 'mmcv', 'mmdet', 'mmseg')


class _Module(pytest.Module):
    """A test module whose import fails for want of an OpenMMLab package is skipped with that
    reason (the lent GPU image has torch alone: ``pytest tests --device cuda`` runs there)."""

    def _getobj(self):
        try:
            return super()._getobj()
        except self.CollectError as error:
            cause = error.__cause__
            top = (getattr(cause, 'name', None) or '').split('.')[0]
            if (isinstance(cause, ModuleNotFoundError) and top in OPENMMLAB
                    and importlib.util.find_spec(top) is None):
                pytest.skip(f'needs OpenMMLab: {top} is not installed (tools/install.sh '
                            'installs it)', allow_module_level=True)
            raise


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.name != '__init__.py':
        return _Module.from_parent(parent, path=module_path)
    return None


def pytest_addoption(parser):
    parser.addoption('--device', default='cpu',
                     help='device of the operator and backbone tests (tests/test_on_device.py): '
                     'cpu (default) or cuda[:N]')


def pytest_configure(config):
    import torch
    name = config.getoption('--device')
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise pytest.UsageError(f'--device {name}: not a torch device ({error})')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise pytest.UsageError(f'--device {name}: torch.cuda.is_available() is False on this '
                                'machine; run on a GPU machine or with --device cpu')


@pytest.fixture(scope='session')
def device(request):
    """The torch.device of ``--device`` (default cpu)."""
    import torch
    return torch.device(request.config.getoption('--device'))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """Folder with the small COCO / ADE20K / Cityscapes sets used by smoke runs."""
    from mmattn.apis import make_synthetic_data
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_data(root)
    return root


def keep_every_detection(cfg) -> None:
    """Set every ``score_thr`` of the model's test_cfg to 0, in place.

    After one training iteration no score passes a detector's usual 0.05, and COCO metrics of
    an empty result set are not computed at all; keeping every box makes them computable.
    """
    from mmattn.utils.config import walk_dicts

    def _keep(item: dict) -> None:
        if 'score_thr' in item:
            item['score_thr'] = 0.0

    walk_dicts(cfg.model.get('test_cfg'), _keep)
