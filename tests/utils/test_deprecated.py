"""mmattn 0.1 import paths keep working for one release, each with a DeprecationWarning that
names the new place."""
import importlib
import sys

import pytest

import mmattn.apis
import mmattn.layers
from mmattn.utils import config


@pytest.mark.parametrize('old,new,names', [
    ('mmattn.utils.deploy', mmattn.layers, ('switch_to_deploy', 'fuse_conv_bn')),
    ('mmattn.utils.export', mmattn.apis, ('export_onnx', 'check_onnx')),
    ('mmattn.utils.smoke', mmattn.apis, ('run_smoke_test', 'shrink_config')),
    ('mmattn.utils.launch', config, ('host_library', 'replace_sync_bn')),
])
def test_old_module_paths_warn_and_give_the_same_objects(old, new, names):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f'{old} moved to'):
        module = importlib.import_module(old)
    for name in names:
        assert getattr(module, name) is getattr(new, name)


def test_old_package_level_names_warn_and_give_the_same_function():
    import mmattn.utils
    with pytest.warns(DeprecationWarning, match='moved to mmattn.layers.switch_to_deploy'):
        assert mmattn.utils.switch_to_deploy is mmattn.layers.switch_to_deploy
    with pytest.raises(AttributeError, match='no_such_name'):
        mmattn.utils.no_such_name
