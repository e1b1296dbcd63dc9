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


@pytest.mark.slow
def test_tools_test_evaluates_the_converted_checkpoint_on_an_imagenet_folder(timm, tmp_path):
    """The one command of docs/model_zoo.md, on a generated ImageNet-format val folder."""
    import importlib.util

    from mmattn.datasets import make_imagenet_folder
    from mmattn.models.converters import save_state_dict
    root = str(tmp_path / 'imagenet')
    make_imagenet_folder(root, num_classes=4, per_class=1, num_val=2)
    original = randomise_levit_statistics(
        timm.create_model('levit_256', pretrained=False).eval(), seed=0)
    checkpoint = str(tmp_path / 'levit-256_in1k_mmattn.pth')
    save_state_dict(convert_levit_classifier(original.state_dict()), checkpoint)
    spec = importlib.util.spec_from_file_location('mmattn_tools_test',
                                                  osp.join(REPO, 'tools', 'test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    metrics = tool.main([CONFIG, checkpoint, '--work-dir', str(tmp_path / 'work'),
                         '--cfg-options', f'test_dataloader.dataset.data_root={root}',
                         'test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
                         'test_dataloader.persistent_workers=False'])
    assert set(metrics) == {'accuracy/top1', 'accuracy/top5'}
