"""configs/levit256_in1k_eval.py: the official LeViT-256, converted with its heads, classifies as
the original does, under the official test protocol.

The oracle is timm's distilled LeViT-256 (the official architecture and key layout's sibling,
random weights with non-trivial BN statistics); mmpretrain and timm import behind the
torchvision stand-in (``tests/levit_oracle.py``).
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from conftest import REPO
from levit_oracle import randomise_levit_statistics, timm_behind_standin
from mmattn.models.converters import convert_levit_classifier

CONFIG = osp.join(REPO, 'configs', 'levit256_in1k_eval.py')


@pytest.fixture(scope='module')
def timm():
    with timm_behind_standin() as timm_module:
        yield timm_module


def test_the_official_test_protocol_resize_256_bicubic_then_centre_crop_224():
    pipeline = Config.fromfile(CONFIG).test_dataloader.dataset.pipeline
    resize, crop = pipeline[1], pipeline[2]
    assert (resize.type, resize.scale, resize.edge) == ('ResizeEdge', 256, 'short')
    assert (resize.interpolation, resize.backend) == ('bicubic', 'pillow')
    assert (crop.type, crop.crop_size) == ('CenterCrop', 224)
    cfg = Config.fromfile(CONFIG)
    assert cfg.data_preprocessor.mean == [123.675, 116.28, 103.53]  # timm/DeiT IMAGENET_DEFAULT
    assert cfg.data_preprocessor.std == [58.395, 57.12, 57.375]
    assert cfg.test_evaluator.topk == (1, 5)


@pytest.mark.slow
def test_converted_official_levit_gives_the_logits_of_the_original(timm):
    original = timm.create_model('levit_256', pretrained=False).eval()
    randomise_levit_statistics(original, seed=0)
    state = convert_levit_classifier(original.state_dict())
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmpretrain')
    ours = MODELS.build(cfg.model).eval()
    ours.load_state_dict(state, strict=True)
    image = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = original(image)
        actual = ours(image, mode='tensor')
    assert actual.shape == (2, 1000)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_a_checkpoint_without_the_distillation_head_is_refused_naming_it(timm):
    state = timm.create_model('levit_256', pretrained=False).state_dict()
    state = {key: value for key, value in state.items() if not key.startswith('head_dist.')}
    with pytest.raises(ValueError, match='head_dist'):
        convert_levit_classifier(state)
