"""Bad or unusual input: a clear error or a correct result."""
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

import mmattn.layers as layers
from conftest import REPO
from mmattn.engine import FiniteCheckHook
from messages import names

DEMO_CONFIG = osp.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py')


@pytest.fixture(scope='module')
def seg_model():
    from mmseg.apis import init_model
    torch.manual_seed(0)
    return init_model(Config.fromfile(DEMO_CONFIG), checkpoint=None, device='cpu')


def _predict(model, path):
    from mmseg.apis import inference_model
    return inference_model(model, path).pred_sem_seg.data[0]


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'RGB'])
def test_grayscale_rgba_and_rgb_images_give_full_size_predictions(tmp_path, seg_model, mode):
    rng = np.random.RandomState(0)
    channels = {'L': (), 'RGBA': (4, ), 'RGB': (3, )}[mode]
    pixels = rng.randint(0, 255, (37, 53) + channels).astype(np.uint8)
    path = str(tmp_path / f'image_{mode}.png')
    Image.fromarray(pixels, mode).save(path)
    pred = _predict(seg_model, path)
    assert pred.shape == (37, 53)
    assert int(pred.min()) >= 0 and int(pred.max()) < 6


@pytest.mark.parametrize('size', [(5, 7), (67, 93)])
def test_images_smaller_than_the_stride_or_off_the_32_grid_are_predicted_whole(
        tmp_path, seg_model, size):
    path = str(tmp_path / 'small.png')
    Image.fromarray(np.full(size + (3, ), 128, np.uint8)).save(path)
    assert _predict(seg_model, path).shape == size


def test_levit_backbone_accepts_an_image_smaller_than_its_stride_64():
    from mmattn.models.backbones import LeViT
    model = LeViT(arch='128s', out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 20, 13))
    strides = (4, 8, 16, 32, 64)
    assert [tuple(o.shape[-2:]) for o in outs] == [(-(-20 // s), -(-13 // s)) for s in strides]


def _runner(iteration=4):
    return SimpleNamespace(iter=iteration)


def _sample(path):
    from mmseg.structures import SegDataSample
    sample = SegDataSample()
    sample.set_metainfo(dict(img_path=path))
    return sample


def test_nan_in_an_input_image_stops_training_naming_the_file():
    image = torch.zeros(3, 8, 8)
    image[1, 2, 3] = float('nan')
    batch = dict(inputs=[torch.zeros(3, 8, 8), image],
                 data_samples=[_sample('ok.png'), _sample('broken.png')])
    with pytest.raises(ValueError, match=r'iteration 5: input image 1 .*broken\.png.*NaN'):
        FiniteCheckHook().before_train_iter(_runner(), 0, batch)


def test_finite_inputs_pass_the_check():
    batch = dict(inputs=[torch.ones(3, 4, 4)], data_samples=[_sample('ok.png')])
    FiniteCheckHook().before_train_iter(_runner(), 0, batch)  # raises on failure


def test_a_nan_loss_stops_training_with_its_terms():
    outputs = dict(loss=torch.tensor(float('nan')), loss_cls=torch.tensor(float('nan')),
                   loss_bbox=torch.tensor(0.5))
    with pytest.raises(ValueError, match=r"loss is nan .*'loss_bbox': 0.5"):
        FiniteCheckHook().after_train_iter(_runner(), 0, outputs=outputs)


def test_check_finite_flag_installs_the_hook():
    import argparse

    from mmattn.apis.launch import apply_train_args
    cfg = Config(dict(default_scope='mmseg', model=dict(type='EncoderDecoder'),
                      optim_wrapper=dict(type='OptimWrapper')))
    args = argparse.Namespace(config='x.py', work_dir='w', launcher='none', amp=False,
                              resume=None, check_finite=True, auto_scale_lr=False)
    cfg = apply_train_args(cfg, args)
    assert dict(type='FiniteCheckHook') in cfg.custom_hooks


@pytest.mark.parametrize('name, kwargs', [('LambdaLayer', dict(out_channels=8)),
                                          ('ExternalAttention', dict(num_memory=4)),
                                          ('XVolution', dict(out_channels=8))])
def test_wrong_channel_count_is_refused_with_the_expected_shape(name, kwargs):
    operator = getattr(layers, name)(8, **kwargs).eval()
    with pytest.raises(ValueError, match=names(name, '(B, 8, H, W)', '(1, 6, 5, 5)')):
        operator(torch.randn(1, 6, 5, 5))


@pytest.mark.parametrize('kwargs, named', [
    (dict(r=4), ('r', 4)),
    (dict(heads=3), ('out_channels', 8, 'heads', 3)),
])
def test_invalid_lambda_hyper_parameters_name_the_values(kwargs, named):
    with pytest.raises(ValueError, match=names(*named)):
        layers.LambdaLayer(8, 8, **kwargs)


def test_unknown_levit_arch_lists_the_known_ones():
    from mmattn.models.backbones import LeViT
    with pytest.raises(KeyError, match=r"'999'.*'128s'"):
        LeViT(arch='999')


@pytest.mark.slow
def test_detector_trains_on_images_without_annotations(tmp_path):
    import json
    import math

    from mmengine.runner import Runner

    from mmattn.apis import make_synthetic_data, shrink_config
    root = str(tmp_path / 'data')
    paths = make_synthetic_data(root)['coco']
    ann_path = osp.join(paths['data_root'], paths['train_ann'])
    with open(ann_path) as f:
        coco = json.load(f)
    coco['annotations'] = []  # every training image is a background-only image
    with open(ann_path, 'w') as f:
        json.dump(coco, f)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mask_rcnn_ea_r50_fpn_1x_coco.py'))
    shrink_config(cfg, root, iters=2)
    cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=False, min_size=0)
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    loss = float(runner.message_hub.get_scalar('train/loss').current())
    assert math.isfinite(loss)
    # no object anywhere: the box and mask regression terms are zero, classification is not
    assert float(runner.message_hub.get_scalar('train/loss_bbox').current()) == 0
    assert float(runner.message_hub.get_scalar('train/loss_cls').current()) > 0
