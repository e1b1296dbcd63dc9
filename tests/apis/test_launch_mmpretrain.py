"""tools/train.py and tools/test.py options on mmpretrain configs (the ImageNet stage)."""
import argparse

import pytest
from mmengine.config import Config

import torchvision_stub
from mmattn.apis.launch import apply_test_args, apply_train_args
from mmattn.utils.config import host_library


@pytest.fixture(autouse=True, scope='module')
def torchvision_importable():
    """The tools check that mmpretrain's torchvision imports: on this CPU torch, the stand-in."""
    with torchvision_stub.installed():
        yield


def _cls_cfg() -> Config:
    return Config(dict(
        default_scope='mmpretrain',
        model=dict(type='ImageClassifier', backbone=dict(type='mmattn.LambdaResNet', depth=50)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        test_evaluator=dict(type='Accuracy', topk=(1, 5)),
        default_hooks=dict(visualization=dict(type='VisualizationHook', enable=False))))


def _args(**kwargs):
    defaults = dict(config='configs/x_in1k.py', work_dir=None, launcher='none', amp=False,
                    resume=None, checkpoint='ckpt.pth', show=False, show_dir=None, tta=False,
                    out=None, deploy=False, format_only=False, check_finite=False,
                    submission_dir=None, auto_scale_lr=False)
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def test_mmpretrain_configs_are_accepted_and_unknown_scopes_named():
    assert host_library(_cls_cfg()) == 'mmpretrain'
    cfg = apply_train_args(_cls_cfg(), _args())
    assert cfg.work_dir == './work_dirs/x_in1k'
    with pytest.raises(ValueError, match="'mmocr'"):
        host_library(Config(dict(default_scope='mmocr')))


def test_out_dumps_classification_results_to_a_pickle():
    cfg = apply_test_args(_cls_cfg(), _args(out='results.pkl'))
    assert cfg.test_evaluator[-1] == dict(type='DumpResults', out_file_path='results.pkl')
    assert cfg.test_evaluator[0].type == 'Accuracy'
    with pytest.raises(ValueError, match='results.json'):
        apply_test_args(_cls_cfg(), _args(out='results.json'))


def test_show_dir_turns_on_mmpretrains_visualization_hook():
    cfg = apply_test_args(_cls_cfg(), _args(show_dir='shown'))
    hook = cfg.default_hooks.visualization
    assert hook.enable is True and hook.out_dir == 'shown'
