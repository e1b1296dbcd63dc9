"""Every config file of ours: imports mmattn, names a host scope (mmdet, mmseg, or mmpretrain for
the ImageNet stage), downloads nothing."""
import os
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO

CONFIG_DIR = osp.join(REPO, 'configs')
CONFIGS = sorted(name for name in os.listdir(CONFIG_DIR) if name.endswith('.py'))
_DOWNLOAD_PREFIXES = ('torchvision://', 'open-mmlab://', 'http://', 'https://')


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_the_config_file_users_type_exists():
    assert 'eanet_r101_ade20k.py' in CONFIGS


@pytest.mark.parametrize('name', CONFIGS)
def test_config_imports_mmattn_and_downloads_nothing_at_run_time(name):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.custom_imports == dict(imports=['mmattn'], allow_failed_imports=False)
    assert cfg.default_scope in ('mmdet', 'mmseg', 'mmpretrain')
    downloads = [s for s in _strings(cfg.to_dict()) if s.startswith(_DOWNLOAD_PREFIXES)]
    assert not downloads, downloads
