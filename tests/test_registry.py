"""The mmattn scope: scoped and plain names build from mmdet and mmseg configs."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.utils import import_modules_from_strings

import mmattn
from mmattn.registry import MODELS
from messages import names


def test_importing_mmattn_registers_its_scope_under_the_root():
    assert MODELS.scope == 'mmattn'
    assert ROOT_MODELS.get('mmattn.EAHead') is MODELS.get('EAHead') is not None
    assert 'EAHead' in MODELS.module_dict
    assert isinstance(mmattn.__version__, str)


def _build_in_scope(scope, cfg):
    import_modules_from_strings([f'{scope}.registry'])
    with DefaultScope.overwrite_default_scope(scope):
        from importlib import import_module
        registry = import_module(f'{scope}.registry').MODELS
        return registry.build(cfg)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('name', ['mmattn.EAHead', 'EAHead'])
def test_a_registered_head_builds_from_both_scopes_by_scoped_and_plain_name(scope, name):
    head = _build_in_scope(scope, dict(type=name, in_channels=8, channels=4, ea_channels=8,
                                       num_memory=4, num_classes=3))
    assert type(head).__name__ == 'EAHead'


def test_custom_imports_in_a_user_config_is_all_it_takes(tmp_path):
    cfg_file = tmp_path / 'user_cfg.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)\n"
        "default_scope = 'mmseg'\n"
        "model = dict(type='EAHead', in_channels=8, channels=4, ea_channels=8, num_memory=4,"
        " num_classes=3)\n")
    cfg = Config.fromfile(str(cfg_file))
    init_default_scope(cfg.default_scope)
    from mmseg.registry import MODELS as SEG_MODELS
    head = SEG_MODELS.build(cfg.model)
    out = head([torch.randn(1, 8, 5, 7)])
    assert out.shape == (1, 3, 5, 7)


def test_plain_names_clashing_with_another_package_are_refused():
    from mmattn.registry import register_model

    with pytest.raises(KeyError, match=names('EAHead')):

        @register_model(name='EAHead')
        class Impostor(torch.nn.Module):
            pass


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('name', ['XVolution', 'mmattn.XVolution'])
def test_build_conv_layer_of_the_resnet_dcn_hook_finds_xvolution(scope, name):
    from mmcv.cnn import build_conv_layer
    import_modules_from_strings([f'{scope}.registry'])
    with DefaultScope.overwrite_default_scope(scope):
        conv = build_conv_layer(dict(type=name), 8, 8, kernel_size=3, stride=1, padding=1,
                                dilation=1, bias=False)
    assert type(conv).__name__ == 'XVolution'
    assert conv(torch.randn(1, 8, 6, 5)).shape == (1, 8, 6, 5)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('name', ['ExternalAttentionPlugin', 'mmattn.ExternalAttentionPlugin'])
def test_build_plugin_layer_of_the_resnet_plugins_hook_finds_the_ea_plugin(scope, name):
    from mmcv.cnn import build_plugin_layer
    import_modules_from_strings([f'{scope}.registry'])
    with DefaultScope.overwrite_default_scope(scope):
        _, plugin = build_plugin_layer(dict(type=name), in_channels=8)
    assert type(plugin).__name__ == 'ExternalAttentionPlugin'
