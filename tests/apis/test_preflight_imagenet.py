"""Preflight and smoke runs of the ImageNet stage (mmpretrain configs, default_scope mmpretrain).

A user without ImageNet on disk yet must learn which folders are missing and how to get them,
and how long the epoch-based schedule takes (from ImageNet-1k's 1,281,167 training images);
the report has the keys of every other config's report. mmpretrain imports torchvision: the
module runs under the test stand-in (``tests/torchvision_stub.py``).
"""
import importlib
import math
import os
import os.path as osp

import pytest

import torchvision_stub
from conftest import REPO
from mmattn.apis import run_smoke_test
from mmattn.apis.preflight import preflight

LAMBDA = osp.join(REPO, 'configs', 'lambda_resnet50_8xb32_in1k.py')
XVOLUTION_SA = osp.join(REPO, 'configs', 'xvolution_sa_resnet50_8xb32_in1k.py')
SEG = osp.join(REPO, 'configs', 'eanet_r50_ade20k.py')
IMAGENET_1K_TRAIN = 1281167
SMALL = {
    'train_dataloader.batch_size': 2,
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'train_dataloader.dataset.pipeline.1.scale': 64,
}


@pytest.fixture(scope='module', autouse=True)
def torchvision_stand_in():
    with torchvision_stub.installed():
        yield


@pytest.fixture
def skip_macs(monkeypatch):
    """Files and schedules do not need the MAC count: stub it."""
    module = importlib.import_module('mmattn.apis.preflight')
    monkeypatch.setattr(module, 'complexity', lambda cfg, size: dict(params=0, flops=0))


def _missing(result, path):
    return [item for item in result['missing_files']
            if osp.normpath(item['path']) == osp.normpath(str(path))]


@pytest.mark.usefixtures('skip_macs')
def test_missing_imagenet_is_named_with_its_fix_and_blocks_the_run(tmp_path):
    root = tmp_path / 'imagenet'
    result = preflight(LAMBDA, gpus=8, iters=0, cfg_options={
        'train_dataloader.dataset.data_root': str(root),
        'val_dataloader.dataset.data_root': str(root)})
    item, = _missing(result, root)
    assert 'docs/get_started.md#imagenet-1k' in item['fix'] and item['blocking']
    assert any(str(root) in line for line in result['problems'])


@pytest.mark.usefixtures('skip_macs')
def test_a_missing_split_folder_is_named(tmp_path):
    os.makedirs(tmp_path / 'val')
    result = preflight(LAMBDA, gpus=8, iters=0, cfg_options={
        'train_dataloader.dataset.data_root': str(tmp_path),
        'val_dataloader.dataset.data_root': str(tmp_path)})
    item, = _missing(result, tmp_path / 'train')
    assert 'train' in item['what'] and item['blocking']
    assert not _missing(result, tmp_path / 'val')


@pytest.mark.usefixtures('skip_macs')
def test_without_the_data_the_epochs_count_imagenet_1k_training_images():
    result = preflight(LAMBDA, gpus=8, iters=0, cfg_options={
        'train_dataloader.dataset.data_root': 'nowhere/imagenet'})
    per_epoch = math.ceil(IMAGENET_1K_TRAIN / (8 * 32))
    assert result['total_iters'] == 100 * per_epoch
    assert str(IMAGENET_1K_TRAIN) in result['schedule']
    assert result['input_size'] == [224, 224]  # RandomResizedCrop(scale=224)


@pytest.mark.usefixtures('skip_macs')
def test_a_missing_stage1_checkpoint_says_which_imagenet_config_writes_it():
    stage2 = osp.join(REPO, 'configs', 'mask_rcnn_xvolution_pssa_r50-in1k_fpn_1x_coco.py')
    result = preflight(stage2, gpus=8, iters=0)
    item, = _missing(result, 'work_dirs/xvolution_pssa_resnet50_8xb32_in1k/epoch_100.pth')
    assert 'configs/xvolution_pssa_resnet50_8xb32_in1k.py' in item['fix'] and item['blocking']


@pytest.mark.slow
def test_the_imagenet_report_has_the_keys_of_every_other_report():
    imagenet = preflight(LAMBDA, gpus=1, iters=2, cfg_options=SMALL)
    segmentation = preflight(SEG, gpus=1, iters=0, cfg_options={
        'model.data_preprocessor.size': (64, 64)})
    assert set(imagenet) == set(segmentation)
    assert imagenet['seconds_per_iter'] > 0 and imagenet['trained_input_size'] == [64, 64]
    total = 100 * math.ceil(IMAGENET_1K_TRAIN / 2)
    assert imagenet['total_iters'] == total
    assert imagenet['eta_hours'] == pytest.approx(imagenet['seconds_per_iter'] * total / 3600)
    assert imagenet['params'] > 0 and imagenet['macs'] > 0


@pytest.mark.slow
def test_an_imagenet_config_smoke_runs_train_and_test(tmp_path, synthetic_root):
    result = run_smoke_test(XVOLUTION_SA, str(tmp_path), data_root=synthetic_root)
    assert result['train_loss'] > 0
    assert 'accuracy/top1' in result['metrics']
