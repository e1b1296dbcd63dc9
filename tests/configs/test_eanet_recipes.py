"""EANet segmentation recipes pinned to their sources (docs/recipes.md (EANet section)).

Authors' protocol (MenghaoGuo/EANet settings.py / train_torch.py / model_torch.py /
test_torch.py): eanet_r{50,101}_voc12aug.py, their _trainval fine-tunes and
eanet_r101_voc12aug_official.py. mmseg standard schedules: the ADE20K, Cityscapes and
*_mmseg-40k VOC configs.
"""
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmengine.utils import import_modules_from_strings
from mmseg.registry import MODELS, TRANSFORMS
from mmseg.structures import SegDataSample
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmattn  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
AUTHORS = ['eanet_r50_voc12aug.py', 'eanet_r101_voc12aug.py']
AUTHORS_TRAINVAL = ['eanet_r50_voc12aug_trainval.py', 'eanet_r101_voc12aug_trainval.py']
OFFICIAL = 'eanet_r101_voc12aug_official.py'
AUTHORS_ALL = AUTHORS + AUTHORS_TRAINVAL + [OFFICIAL]
ADE20K = ['eanet_r50_ade20k.py', 'eanet_r101_ade20k.py']
CITYSCAPES = ['eanet_r50_cityscapes.py', 'eanet_r101_cityscapes.py']
VOC_MMSEG = ['eanet_r50_voc12aug_mmseg-40k.py', 'eanet_r101_voc12aug_mmseg-40k.py']
MMSEG_ALL = ADE20K + CITYSCAPES + VOC_MMSEG

OFFICIAL_TRAIN_SCALES = tuple(round(0.5 + 0.1 * i, 1) for i in range(16))  # settings.SCALES
OFFICIAL_TEST_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)  # settings.TEST_SCALES
MMSEG_TTA_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]  # mmseg dataset bases' img_ratios


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Config:
    return Config.fromfile(str(ROOT / 'configs' / name))


def _types(pipeline):
    return [step['type'] for step in pipeline]


def _depth(name):
    return 101 if 'r101' in name else 50


# ---- the authors' Pascal VOC protocol ----------------------------------------------------------

@pytest.mark.parametrize('name', AUTHORS_ALL)
def test_authors_model_is_the_official_resnet_and_head(name):
    model = _load(name).model
    backbone = model.backbone
    assert backbone.type == 'ResNetV1c' and backbone.depth == _depth(name)  # settings.N_LAYERS
    assert backbone.stem_channels == 128  # 64-64-128 stem (model_torch.py ResNet.conv1)
    assert backbone.strides == (1, 2, 1, 1) and backbone.dilations == (1, 1, 2, 4)  # OS 8
    assert backbone.contract_dilation and backbone.multi_grid == (2, 8, 16)
    assert backbone.style == 'pytorch'  # stride in the 3x3 conv
    head = model.decode_head
    assert head.type == 'mmattn.EAHead'
    assert (head.in_channels, head.ea_channels, head.channels, head.num_memory) == (
        2048, 512, 256, 64)  # fc0 2048->512, External_attention(512) k=64, fc1 512->256
    assert head.dropout_ratio == 0.1 and head.num_classes == 21  # Dropout2d(0.1), N_CLASSES
    assert head.align_corners is True  # F.interpolate(..., align_corners=True)
    assert head.loss_decode == dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
    assert model.auxiliary_head is None
    assert backbone.norm_cfg.type == head.norm_cfg.type == 'SyncBN'  # bn_lib's SyncBN
    preprocessor = model.data_preprocessor  # fetch(): RGB / 255, ImageNet mean / std
    assert preprocessor.mean == [123.675, 116.28, 103.53]
    assert preprocessor.std == [58.395, 57.12, 57.375]
    assert preprocessor.bgr_to_rgb and preprocessor.pad_val == 0
    assert preprocessor.seg_pad_val == 255 and preprocessor.size == (513, 513)
    # eval_torch.py's ValDataset: pad_inf() to 8k + 1 with settings.STRIDE = 8
    assert preprocessor.type == 'mmattn.StridePadSegDataPreProcessor'
    assert preprocessor.test_stride == 8


@pytest.mark.parametrize('name', AUTHORS + [OFFICIAL])
def test_authors_schedule_is_45k_iterations_of_16_crops_with_sgd_9e3(name):
    cfg = _load(name)
    assert cfg.crop_size == (513, 513)  # settings.CROP_SIZE
    assert cfg.train_dataloader.batch_size * 4 == 16  # 4 GPUs x 4 = settings.BATCH_SIZE
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_iters == 45000  # settings.ITER_MAX
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=9e-3, momentum=0.9,
                                               weight_decay=1e-4)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        norm_decay_mult=0.0, custom_keys={'.bias': dict(lr_mult=2.0, decay_mult=0.0)})
    (poly, ) = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end) == (
        'PolyLR', 0.9, 0.0, 0, 45000)
    assert cfg.default_hooks.checkpoint.interval == 3000  # settings.ITER_SAVE


@pytest.mark.parametrize('name', AUTHORS_ALL)
def test_authors_training_augmentation_is_the_official_one(name):
    cfg = _load(name)
    dataset = cfg.train_dataloader.dataset
    datasets = dataset.datasets if dataset.type == 'ConcatDataset' else [dataset]
    for pipeline in [d.pipeline for d in datasets]:
        assert _types(pipeline) == ['LoadImageFromFile', 'LoadAnnotations', 'RandomChoice',
                                    'RandomCrop', 'RandomFlip', 'PackSegInputs']
        choice = pipeline[2]
        scales = tuple(option[0]['scale_factor'] for option in choice.transforms)
        assert scales == OFFICIAL_TRAIN_SCALES
        assert all(option[0]['keep_ratio'] for option in choice.transforms)
        crop = pipeline[3]
        assert crop.crop_size == (513, 513) and crop.get('cat_max_ratio', 1.0) == 1.0
        assert pipeline[4].prob == 0.5


@pytest.mark.parametrize('name', AUTHORS_ALL)
def test_authors_validation_is_the_official_single_scale_evaluation(name):
    """eval_torch.py + EMANet dataset.py ValDataset: val.txt, labels from SegmentationClassAug,
    PIL decoding (fetch()), the whole image; its 8k + 1 padding is the data preprocessor's."""
    cfg = _load(name)
    dataset = cfg.val_dataloader.dataset
    assert dataset.ann_file == 'ImageSets/Segmentation/val.txt'
    assert dataset.data_prefix == dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
    assert _types(dataset.pipeline) == ['LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs']
    assert dataset.pipeline[0].imdecode_backend == 'pillow'
    assert dataset.pipeline[1].get('imdecode_backend', 'pillow') == 'pillow'  # mmseg's default
    assert cfg.val_evaluator.type == 'IoUMetric' and cfg.val_evaluator.get('ignore_index',
                                                                            255) == 255
    if name not in AUTHORS_TRAINVAL:  # their test set is VOC test, without labels
        assert cfg.test_dataloader == cfg.val_dataloader
    for pipeline in (cfg.test_dataloader.dataset.pipeline, cfg.tta_pipeline):
        assert pipeline[0] == dict(type='LoadImageFromFile', imdecode_backend='pillow')


@pytest.mark.parametrize('name', AUTHORS_ALL)
def test_authors_test_is_the_whole_image_and_the_official_tta(name):
    cfg = _load(name)
    assert 'Resize' not in _types(cfg.test_dataloader.dataset.pipeline)  # image at its size
    assert cfg.model.test_cfg == dict(mode='whole')
    assert cfg.tta_model.type == 'mmattn.LogitSumTTAModel'
    assert tuple(cfg.tta_model.scales) == OFFICIAL_TEST_SCALES and cfg.tta_model.flip
    assert cfg.tta_model.pad_divisor == 8  # pad_inf() with settings.STRIDE
    assert 'TestTimeAug' not in _types(cfg.tta_pipeline)


@pytest.mark.parametrize('name', AUTHORS)
def test_authors_pretrained_backbone_is_the_converted_pytorch_encoding_resnet(name):
    expected = {50: 'resnet50-ebb6acbb', 101: 'resnet101-2a57e44d'}[_depth(name)]
    assert _load(name).model.pretrained == f'checkpoints/{expected}_mmseg.pth'


@pytest.mark.parametrize('name', AUTHORS_TRAINVAL)
def test_authors_fine_tune_is_stage_one_recipe_on_trainval_for_the_test_server(name):
    stage1, stage2 = _load(name.replace('_trainval', '')), _load(name)
    assert stage2.load_from == f"work_dirs/{name.replace('_trainval.py', '')}/iter_45000.pth"
    assert stage2.train_dataloader.dataset.ann_file == 'ImageSets/Segmentation/trainval.txt'
    stage1_pipeline = stage1.train_dataloader.dataset.datasets[1].pipeline
    assert stage2.train_dataloader.dataset.pipeline == stage1_pipeline
    assert stage2.optim_wrapper.optimizer.lr == pytest.approx(9e-4)  # ours: stage 1 / 10
    assert stage2.optim_wrapper.paramwise_cfg == stage1.optim_wrapper.paramwise_cfg
    assert stage2.train_cfg.max_iters == 10000 and stage2.param_scheduler[0].end == 10000
    assert stage2.test_dataloader.dataset.ann_file == 'ImageSets/Segmentation/test.txt'
    assert stage2.test_evaluator.format_only
    for pipeline in (stage2.test_dataloader.dataset.pipeline, stage2.tta_pipeline):
        assert 'LoadAnnotations' not in _types(pipeline)  # the test set has no labels


def test_official_config_is_the_authors_r101_config_without_pretrained_weights():
    official, authors = _load(OFFICIAL).to_dict(), _load('eanet_r101_voc12aug.py').to_dict()
    assert official['model'].pop('pretrained') is None
    authors['model'].pop('pretrained')
    assert official == authors
    assert _load(OFFICIAL).test_dataloader.dataset.ann_file == 'ImageSets/Segmentation/val.txt'


def _built(name, depth=None):
    """The config's model (BN instead of SyncBN, no pretrained file), optionally at ``depth``."""
    cfg = _load(name)
    import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.to_dict()
    model_cfg.update(pretrained=None)
    model_cfg['backbone'].update(norm_cfg=dict(type='BN', requires_grad=True))
    if depth is not None:
        model_cfg['backbone'].update(depth=depth)
    for head in ('decode_head', 'auxiliary_head'):
        if model_cfg.get(head):
            model_cfg[head].update(norm_cfg=dict(type='BN', requires_grad=True))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(model_cfg), cfg


@pytest.mark.parametrize('name', AUTHORS_ALL + MMSEG_ALL)
def test_config_builds_its_model_and_test_time_model(name):
    model, cfg = _built(name)
    assert model.backbone.depth == _depth(name)
    assert model.with_auxiliary_head == (name in MMSEG_ALL)
    with DefaultScope.overwrite_default_scope('mmseg'):
        tta = MODELS.build(dict(cfg.tta_model, module=model))
    assert tta.module is model


def test_optimiser_groups_follow_train_torch_get_params():
    """conv weights: lr x1, decay 1e-4; BN weights: lr x1, no decay; all biases: lr x2, none."""
    model, cfg = _built('eanet_r50_voc12aug.py')
    with DefaultScope.overwrite_default_scope('mmseg'):
        optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    setting = {id(p): (round(group['lr'], 12), group['weight_decay'])
               for group in optimizer.param_groups for p in group['params']}
    kinds = {'conv weight': set(), 'bn weight': set(), 'bias': set()}
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if name == 'bias':
                kind = 'bias'
            elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
                kind = 'conv weight'
            elif isinstance(module, _BatchNorm):
                kind = 'bn weight'
            else:
                raise AssertionError(f'{type(module).__name__}.{name}: the official get_params() '
                                     'has no group for it')
            kinds[kind].add(setting[id(param)])
    assert kinds == {'conv weight': {(9e-3, 1e-4)}, 'bn weight': {(9e-3, 0.0)},
                     'bias': {(1.8e-2, 0.0)}}
    # Every parameter once: EA memories (Conv1d) included, nothing left out.
    assert len(setting) == len(list(model.parameters()))
    assert setting[id(model.decode_head.ea.memory_keys.weight)] == (9e-3, 1e-4)
    assert setting[id(model.decode_head.ea.out_norm.bias)] == (1.8e-2, 0.0)


def test_official_scale_augmentation_resizes_by_a_factor_of_the_official_set():
    transform = TRANSFORMS.build(_load('eanet_r50_voc12aug.py').train_pipeline[2])
    heights = set()
    np.random.seed(0)
    for _ in range(200):
        result = transform(dict(img=np.zeros((100, 60, 3), np.uint8), seg_fields=['gt_seg_map'],
                                gt_seg_map=np.zeros((100, 60), np.uint8)))
        heights.add(result['img'].shape[0])
        assert result['gt_seg_map'].shape == result['img'].shape[:2]
    assert heights == {round(100 * s) for s in OFFICIAL_TRAIN_SCALES}


def test_crops_are_padded_to_513_after_normalisation_with_0_and_label_255():
    model, _ = _built('eanet_r50_voc12aug.py')
    sample = SegDataSample(metainfo=dict(img_shape=(300, 400), ori_shape=(300, 400)))
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 300, 400, dtype=torch.long))
    image = torch.full((3, 300, 400), 255, dtype=torch.uint8)
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), True)
    inputs, label = data['inputs'], data['data_samples'][0].gt_sem_seg.data
    assert inputs.shape == (1, 3, 513, 513)
    assert torch.all(inputs[..., 300:, :] == 0) and torch.all(inputs[..., :, 400:] == 0)
    assert torch.all(label[:, 300:, :] == 255) and torch.all(label[:, :300, :400] == 0)


def test_validation_input_is_padded_to_8k_plus_1_after_normalisation_and_cropped_back():
    model, _ = _built('eanet_r50_voc12aug.py')
    sample = SegDataSample(metainfo=dict(img_shape=(300, 400), ori_shape=(300, 400)))
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 300, 400, dtype=torch.long))
    image = torch.full((3, 300, 400), 255, dtype=torch.uint8)
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
    inputs, (sample, ) = data['inputs'], data['data_samples']
    assert inputs.shape == (1, 3, 305, 401)  # 8 * 38 + 1, 8 * 50 + 1
    assert torch.all(inputs[..., 300:, :] == 0) and torch.all(inputs[..., :, 400:] == 0)
    assert torch.all(inputs[..., :300, :400] != 0)
    assert sample.gt_sem_seg.shape == (300, 400)  # the label is scored as it is
    logits = torch.randn(1, 21, 305, 401)
    (result, ) = model.postprocess_result(logits, [sample])
    assert torch.equal(result.seg_logits.data, logits[0, :, :300, :400])


# ---- mmseg standard schedules ------------------------------------------------------------------

@pytest.mark.parametrize('name', MMSEG_ALL)
def test_mmseg_recipes_use_resnet_v1c_d8_with_the_fcn_auxiliary_head(name):
    model = _load(name).model
    backbone = model.backbone
    assert backbone.type == 'ResNetV1c' and backbone.depth == _depth(name)
    assert backbone.get('stem_channels', 64) == 64 and backbone.get('multi_grid') is None
    assert backbone.strides == (1, 2, 1, 1) and backbone.dilations == (1, 1, 2, 4)
    assert backbone.contract_dilation
    expected = {50: 'resnet50_v1c-2cccc1ad', 101: 'resnet101_v1c-e67eebb6'}[_depth(name)]
    assert model.pretrained == f'checkpoints/{expected}.pth'
    aux = model.auxiliary_head
    assert aux.type == 'FCNHead' and aux.in_index == 2 and aux.loss_decode.loss_weight == 0.4
    assert model.decode_head.type == 'mmattn.EAHead'
    assert model.decode_head.num_classes == aux.num_classes


@pytest.mark.parametrize('name, crop, iters, gpus, per_gpu, align, resize', [
    *[(n, (512, 512), 160000, 8, 2, False, (2048, 512)) for n in ADE20K],
    *[(n, (769, 769), 80000, 4, 2, True, (2049, 1025)) for n in CITYSCAPES],
    *[(n, (512, 512), 40000, 4, 4, False, (2048, 512)) for n in VOC_MMSEG],
])
def test_mmseg_schedule_values(name, crop, iters, gpus, per_gpu, align, resize):
    cfg = _load(name)
    assert cfg.crop_size == crop and cfg.model.data_preprocessor.size == crop
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu
    assert cfg.train_cfg.max_iters == iters
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.01, momentum=0.9,
                                               weight_decay=5e-4)
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    (poly, ) = cfg.param_scheduler
    assert (poly.power, poly.eta_min, poly.end) == (0.9, 1e-4, iters)
    assert cfg.model.decode_head.align_corners is align
    assert cfg.model.auxiliary_head.align_corners is align
    dataset = cfg.train_dataloader.dataset
    pipeline = (dataset.datasets[0] if dataset.type == 'ConcatDataset' else dataset).pipeline
    steps = {step['type']: step for step in pipeline}
    assert steps['RandomResize'].scale == resize
    assert steps['RandomResize'].ratio_range == (0.5, 2.0)
    assert steps['RandomCrop'].cat_max_ratio == 0.75 and 'PhotoMetricDistortion' in steps
    assert cfg.tta_model.type == 'SegTTAModel'
    (tta, ) = [t for t in cfg.tta_pipeline if t.type == 'TestTimeAug']
    assert [t.scale_factor for t in tta.transforms[0]] == MMSEG_TTA_RATIOS
    assert sorted(t.prob for t in tta.transforms[1]) == [0.0, 1.0]


@pytest.mark.parametrize('name', CITYSCAPES)
def test_cityscapes_tests_with_769_windows_at_stride_513(name):
    assert _load(name).model.test_cfg == dict(mode='slide', crop_size=(769, 769),
                                              stride=(513, 513))
