"""Deploy checkpoints (tools/model_converters/reparameterize_model.py): written from a trained
model, they load strictly into the config's model built with deploy=True and give its outputs.
One config per method that has a deploy form."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import (TensorForward, build_model, deploy_config, is_deploy_checkpoint,
                         reparameterize_checkpoint)
from levit_oracle import randomise_levit_statistics
from mmattn.utils.config import drop_pretrained_init, replace_sync_bn
from messages import names


def _config(name: str) -> Config:
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    drop_pretrained_init(cfg)
    replace_sync_bn(cfg)
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('name,converted_type', [
    ('eanet_r50_ade20k.py', 'ExternalAttention'),
    ('pspnet_xvolution_pssa_r50_d8_ade20k.py', 'XVolution'),
    ('upernet_levit256_ade20k.py', 'LeViT'),
])
def test_a_deploy_checkpoint_loads_into_the_deploy_config_and_keeps_the_outputs(
        name, converted_type, tmp_path):
    cfg = _config(name)
    torch.manual_seed(0)
    model = randomise_levit_statistics(build_model(cfg))  # BN statistics, affines, bias tables
    train_ckpt, deploy_ckpt = str(tmp_path / 'train.pth'), str(tmp_path / 'deploy.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, train_ckpt)

    assert reparameterize_checkpoint(cfg, train_ckpt, deploy_ckpt) > 0
    assert is_deploy_checkpoint(deploy_ckpt) and not is_deploy_checkpoint(train_ckpt)
    deploy_cfg = copy.deepcopy(cfg)
    assert deploy_config(deploy_cfg) > 0
    deployed = build_model(deploy_cfg, deploy_ckpt)  # strict: every key used, none missing
    assert any(type(m).__name__ == converted_type and m.deploy for m in deployed.modules())

    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = TensorForward(model, 'mmseg')(x)[0]
        got = TensorForward(deployed, 'mmseg')(x)[0]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max())
    with pytest.raises(RuntimeError, match='unexpected key in source state_dict'):
        build_model(cfg, deploy_ckpt)  # the training-form model does not take it


def test_deploy_config_marks_only_modules_with_a_deploy_form():
    cfg = _config('mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py')
    assert deploy_config(cfg) == 1
    assert cfg.model.backbone.dcn.deploy is True
    assert 'deploy' not in cfg.model.backbone and 'deploy' not in cfg.model.neck
    lam = _config('mask_rcnn_lambda_r50_fpn_1x_coco.py')
    assert deploy_config(lam) == 0  # lambda layers have no deploy form


def test_a_model_without_a_deploy_form_is_refused(tmp_path):
    cfg = _config('fcn_lambda_r50_d8_ade20k.py')
    model = build_model(cfg)
    path = str(tmp_path / 'train.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    with pytest.raises(ValueError, match=names('deploy')):
        reparameterize_checkpoint(cfg, path, str(tmp_path / 'deploy.pth'))
