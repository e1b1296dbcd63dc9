"""What tools/train.py and tools/test.py change in a config, option by option."""
import argparse

import pytest
import torch
from mmengine.config import Config

from mmattn.apis.launch import apply_test_args, apply_train_args, total_batch_warning
from mmattn.utils.config import drop_pretrained_init, host_library, replace_sync_bn
from messages import names


def _seg_cfg() -> Config:
    return Config(dict(
        default_scope='mmseg',
        model=dict(type='EncoderDecoder',
                   backbone=dict(type='ResNetV1c', norm_cfg=dict(type='SyncBN'),
                                 init_cfg=dict(type='Pretrained', checkpoint='x.pth')),
                   decode_head=dict(type='EAHead', norm_cfg=dict(type='SyncBN')),
                   pretrained='y.pth'),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01)),
        test_dataloader=dict(dataset=dict(pipeline=['plain'])),
        test_evaluator=dict(type='IoUMetric'),
        tta_model=dict(type='SegTTAModel'), tta_pipeline=['tta'],
        default_hooks=dict(visualization=dict(type='SegVisualizationHook')),
        visualizer=dict(type='SegLocalVisualizer')))


def _args(**kwargs):
    defaults = dict(config='configs/x.py', work_dir=None, launcher='none', amp=False,
                    resume=None, checkpoint='ckpt.pth', show=False, show_dir=None, tta=False,
                    out=None, deploy=False, format_only=False, check_finite=False,
                    submission_dir=None, auto_scale_lr=False)
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def test_host_library_is_read_from_default_scope_and_others_are_refused():
    assert host_library(_seg_cfg()) == 'mmseg'
    with pytest.raises(ValueError, match=names('default_scope', 'None')):
        host_library(Config(dict(model=dict())))


def test_every_syncbn_in_the_model_becomes_bn():
    cfg = _seg_cfg()
    assert replace_sync_bn(cfg) == 2
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.decode_head.norm_cfg.type == 'BN'


def test_pretrained_init_and_pretrained_paths_are_dropped():
    cfg = _seg_cfg()
    assert drop_pretrained_init(cfg) == 2
    assert cfg.model.backbone.init_cfg is None and cfg.model.pretrained is None


def test_default_work_dir_is_named_after_the_config():
    cfg = apply_train_args(_seg_cfg(), _args())
    assert cfg.work_dir == './work_dirs/x'


def test_amp_without_cuda_selects_bf16_autocast():
    cfg = apply_train_args(_seg_cfg(), _args(amp=True))
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper'


def test_resume_without_a_path_resumes_from_the_work_dir():
    cfg = apply_train_args(_seg_cfg(), _args(resume='auto'))
    assert cfg.resume is True and cfg.load_from is None
    cfg = apply_train_args(_seg_cfg(), _args(resume='a.pth'))
    assert cfg.resume is True and cfg.load_from == 'a.pth'


def test_tta_wraps_the_model_and_swaps_the_test_pipeline():
    cfg = apply_test_args(_seg_cfg(), _args(tta=True))
    assert cfg.model.type == 'SegTTAModel' and cfg.model.module.type == 'EncoderDecoder'
    assert cfg.test_dataloader.dataset.pipeline == ['tta']


def test_tta_without_a_tta_model_names_the_missing_key():
    cfg = _seg_cfg()
    cfg = Config({k: v for k, v in cfg.to_dict().items() if k != 'tta_model'})
    with pytest.raises(KeyError, match='tta_model'):
        apply_test_args(cfg, _args(tta=True))


def test_deploy_adds_the_switch_to_deploy_hook():
    cfg = apply_test_args(_seg_cfg(), _args(deploy=True))
    assert dict(type='SwitchToDeployHook') in cfg.custom_hooks
    assert 'deploy' not in cfg.model.decode_head  # a training checkpoint: training form


def test_deploy_with_a_deploy_checkpoint_builds_the_deploy_form_instead(tmp_path):
    path = str(tmp_path / 'deploy.pth')
    torch.save({'state_dict': {}, 'meta': dict(deploy=True)}, path)
    cfg = apply_test_args(_seg_cfg(), _args(deploy=True, checkpoint=path))
    assert cfg.model.decode_head.deploy is True  # EAHead has a deploy form
    assert 'deploy' not in cfg.model.backbone  # ResNetV1c has none
    assert dict(type='SwitchToDeployHook') not in cfg.get('custom_hooks', [])


def test_out_for_segmentation_keeps_one_png_per_image_in_the_folder():
    cfg = apply_test_args(_seg_cfg(), _args(out='preds'))
    assert cfg.test_evaluator.output_dir == 'preds' and cfg.test_evaluator.keep_results


def test_out_for_detection_must_be_a_pickle():
    cfg = _seg_cfg()
    cfg.default_scope = 'mmdet'
    with pytest.raises(ValueError, match='.pkl'):
        apply_test_args(cfg, _args(out='results.json'))
    cfg = apply_test_args(cfg, _args(out='results.pkl'))
    assert cfg.test_evaluator[-1] == dict(type='DumpDetResults', out_file_path='results.pkl')


def test_show_dir_goes_where_each_host_library_expects_it():
    seg = apply_test_args(_seg_cfg(), _args(show_dir='vis'))
    assert seg.visualizer.save_dir == 'vis'
    assert seg.default_hooks.visualization.draw is True
    det = _seg_cfg()
    det.default_scope = 'mmdet'
    det = apply_test_args(det, _args(show_dir='vis'))
    assert det.default_hooks.visualization.test_out_dir == 'vis'


def test_auto_scale_lr_enables_the_configs_scaling_and_needs_its_base_batch():
    cfg = _seg_cfg()
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=16)
    assert apply_train_args(cfg, _args(auto_scale_lr=True)).auto_scale_lr.enable is True
    assert apply_train_args(_with_scale(), _args()).auto_scale_lr.enable is False
    with pytest.raises(KeyError, match='base_batch_size'):
        apply_train_args(_seg_cfg(), _args(auto_scale_lr=True))


def _with_scale() -> Config:
    cfg = _seg_cfg()
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=16)
    return cfg


@pytest.mark.slow
def test_library_runners_in_one_process_each_log_into_their_own_work_dir(tmp_path):
    # mmseg's runtime names the visualizer 'visualizer'; without a name of its own the second
    # Runner reuses the first one's visualizer and writes into its (deleted) work_dir.
    import shutil

    from mmattn.apis import run_smoke_test
    config = 'configs/demo_eanet_r18_synthetic.py'
    data_root = str(tmp_path / 'data')
    first = tmp_path / 'first'
    run_smoke_test(config, str(first), data_root=data_root)
    shutil.rmtree(first)
    run_smoke_test(config, str(tmp_path / 'second'), data_root=data_root)
    assert not first.exists()  # nothing written into the first run's folder
    assert list((tmp_path / 'second').rglob('vis_data/*scalars.json'))


def _recipe(base=16, batch=2) -> Config:
    cfg = _seg_cfg()
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=base)
    cfg.train_dataloader = dict(batch_size=batch)
    return cfg


def test_a_total_batch_other_than_the_recipes_is_named_until_the_lr_is_scaled():
    assert total_batch_warning(_recipe(), gpus=8) is None  # 8 x 2 = 16: the recipe's batch
    warning = total_batch_warning(_recipe(), gpus=16)  # a 8-GPU recipe on 16 GPUs
    assert '16 x 2 = 32' in warning and '16' in warning and 'auto_scale_lr' in warning
    scaled = _recipe()
    scaled.auto_scale_lr.enable = True
    assert total_batch_warning(scaled, gpus=16) is None


@pytest.fixture
def train_log():
    """WARNING records logged through mmengine's current logger (tools/train.py's log)."""
    import logging

    from mmengine.logging import MMLogger

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger, handler = MMLogger.get_current_instance(), Collect()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_train_warns_when_more_gpus_than_the_recipes_double_the_batch(monkeypatch, train_log):
    from cuda_standin import CudaStandin
    CudaStandin(monkeypatch, count=16)  # a CUDA machine: no CPU process group is set up
    monkeypatch.setenv('WORLD_SIZE', '16')
    monkeypatch.setenv('RANK', '0')
    apply_train_args(_recipe(), _args(launcher='pytorch'))
    assert any('16 x 2 = 32' in line for line in train_log)
    train_log.clear()
    apply_train_args(_recipe(), _args(launcher='pytorch', auto_scale_lr=True))
    assert train_log == []
    monkeypatch.setenv('WORLD_SIZE', '8')
    apply_train_args(_recipe(), _args(launcher='pytorch'))
    assert train_log == []
