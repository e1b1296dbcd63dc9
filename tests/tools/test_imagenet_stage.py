"""The two-stage pipeline on this machine: the real ImageNet config trains through tools/train.py
on a generated ImageNet-format folder, and its checkpoint initialises the matching Mask R-CNN.

mmpretrain imports torchvision, which has no build for some torch builds (this machine's CPU
torch among them): the module enters the test stand-in (``tests/torchvision_stub.py``) for its
duration; nothing of torchvision runs in these models, pipelines or metrics. tools/train.py runs
in this process (its ``main(argv)``, or for the EMA case its parser and the library functions it
calls, with one hook added), so that the stand-in is in place for it too.

Every override is a ``--cfg-options`` a user could type: the data root, a batch of 2, no
dataloader workers, one epoch, and 64-pixel crops (the pipelines keep their steps). The
Mask R-CNN side builds the stage-2 config as written, with the checkpoint path pointed at the
one stage 1 wrote, and runs its ``init_weights()`` (what the Runner does before training).
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import torchvision_stub
from conftest import REPO
from mmattn.datasets import make_imagenet_folder

pytestmark = pytest.mark.slow

# stage-1 config -> the stage-2 config its checkpoint initialises
PAIRS = {
    'lambda_resnet50_8xb32_in1k.py': 'mask_rcnn_lambda_r50-in1k_fpn_1x_coco.py',
    'xvolution_pssa_resnet50_8xb32_in1k.py': 'mask_rcnn_xvolution_pssa_r50-in1k_fpn_1x_coco.py',
}


@pytest.fixture(scope='module', autouse=True)
def torchvision_stand_in():
    with torchvision_stub.installed():
        yield


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('imagenet'))
    make_imagenet_folder(root, num_classes=4, per_class=1, num_val=2)
    return root


def _train_tool():
    spec = importlib.util.spec_from_file_location('mmattn_tools_train',
                                                  osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stage1_options(root: str) -> list:
    options = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={root}', f'{loader}.batch_size=2',
                    f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    options += [
        'train_dataloader.dataset.pipeline.1.scale=64',  # RandomResizedCrop
        'val_dataloader.dataset.pipeline.1.scale=72',  # ResizeEdge (short side)
        'val_dataloader.dataset.pipeline.2.crop_size=64',  # CenterCrop
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1', 'randomness.seed=0',
    ]
    return options


@pytest.fixture(scope='module')
def stage1_checkpoints(imagenet_root, tmp_path_factory):
    """Train each stage-1 config for one epoch (2 iterations); config -> checkpoint path."""
    train = _train_tool()
    written = {}
    for config in PAIRS:
        work_dir = str(tmp_path_factory.mktemp(config[:-3]))
        train.main([osp.join(REPO, 'configs', config), '--work-dir', work_dir,
                    '--cfg-options'] + _stage1_options(imagenet_root))
        written[config] = osp.join(work_dir, 'epoch_1.pth')
    return written


@pytest.mark.parametrize('config', sorted(PAIRS))
def test_the_imagenet_config_trains_through_tools_train_and_writes_a_classifier_checkpoint(
        config, stage1_checkpoints):
    path = stage1_checkpoints[config]
    assert osp.isfile(path), f'tools/train.py wrote no {path}'
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    state = checkpoint['state_dict']
    assert checkpoint['meta']['epoch'] == 1 and checkpoint['meta']['iter'] == 2
    assert any(key.startswith('backbone.layer3.') for key in state)
    assert {'head.fc.weight', 'head.fc.bias'} <= set(state)  # the 1000-class ImageNet head
    assert state['head.fc.weight'].shape == (1000, 2048)
    new_layers = ('.conv2.position_embeddings' if 'lambda' in config else
                  '.conv2.attention_norm.')
    assert any(new_layers in key for key in state), f'{config}: no new layer in {sorted(state)}'


@pytest.mark.parametrize('config', sorted(PAIRS))
def test_the_stage1_checkpoint_initialises_every_backbone_tensor_of_the_mask_rcnn(
        config, stage1_checkpoints):
    path = stage1_checkpoints[config]
    saved = {key[len('backbone.'):]: value for key, value in
             torch.load(path, map_location='cpu', weights_only=False)['state_dict'].items()
             if key.startswith('backbone.')}
    cfg = Config.fromfile(osp.join(REPO, 'configs', PAIRS[config]))
    assert cfg.model.backbone.init_cfg.type == 'StrictPretrained'
    cfg.model.backbone.init_cfg.checkpoint = path
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    loaded = detector.backbone.state_dict()
    assert set(loaded) == set(saved)
    differing = [key for key in saved if not torch.equal(loaded[key], saved[key])]
    assert not differing, f'{PAIRS[config]}: backbone tensors not from the checkpoint: {differing}'


def test_a_plain_resnet_checkpoint_is_refused_by_the_stage2_config_naming_the_missing_keys(
        tmp_path):
    """Stage 2 of X-volution must not start from torchvision's ResNet (the attention branches
    would be missing): the error names the X-volution keys."""
    from mmdet.models.backbones import ResNet
    plain = {f'backbone.{key}': value for key, value in ResNet(depth=50).state_dict().items()}
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': plain, 'meta': {}}, path)
    cfg = Config.fromfile(osp.join(REPO, 'configs',
                                   'mask_rcnn_xvolution_pssa_r50-in1k_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg.checkpoint = path
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    with pytest.raises(RuntimeError) as error:
        detector.init_weights()
    assert 'layer3.0.conv2.attention_norm.weight' in str(error.value)
    assert path in str(error.value)


def test_with_an_ema_hook_stage2_starts_from_the_averaged_weights(imagenet_root, tmp_path):
    """mmengine's EMAHook saves the averaged weights as the checkpoint's ``state_dict`` (the raw
    ones under ``ema_state_dict``): stage 2 must load the averaged ones."""
    from mmattn.apis.launch import apply_train_args, build_runner, config_from_args
    config = osp.join(REPO, 'configs', 'lambda_resnet50_8xb32_in1k.py')
    args = _train_tool().parse_args([config, '--work-dir', str(tmp_path), '--cfg-options'] +
                                    _stage1_options(imagenet_root))
    cfg = config_from_args(args)
    cfg.custom_hooks = [dict(type='EMAHook', momentum=0.5)]
    apply_train_args(cfg, args)
    build_runner(cfg).train()
    checkpoint = torch.load(str(tmp_path / 'epoch_1.pth'), map_location='cpu',
                            weights_only=False)
    averaged = {key[len('backbone.'):]: value for key, value in checkpoint['state_dict'].items()
                if key.startswith('backbone.')}
    raw = {key[len('module.backbone.'):]: value
           for key, value in checkpoint['ema_state_dict'].items()
           if key.startswith('module.backbone.')}
    assert any(not torch.equal(raw[key], averaged[key]) for key in averaged)
    stage2 = Config.fromfile(osp.join(REPO, 'configs', PAIRS['lambda_resnet50_8xb32_in1k.py']))
    stage2.model.backbone.init_cfg.checkpoint = str(tmp_path / 'epoch_1.pth')
    init_default_scope('mmdet')
    detector = MODELS.build(stage2.model)
    detector.init_weights()
    loaded = detector.backbone.state_dict()
    assert all(torch.equal(loaded[key], averaged[key]) for key in averaged)
