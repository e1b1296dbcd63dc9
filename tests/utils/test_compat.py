"""mmengine checkpoints load safely (weights_only) under PyTorch >= 2.6: resume and load_from."""
import pickle

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn

import mmattn  # noqa: F401  (installs the fixes)
from mmattn.utils.compat import TRUST_ENV, load_local_checkpoint
from messages import names


class _Regressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, inputs, targets=None, mode='loss'):
        x = torch.stack(inputs) if isinstance(inputs, (list, tuple)) else inputs
        y = torch.stack(targets) if isinstance(targets, (list, tuple)) else targets
        return dict(loss=((self.fc(x) - y)**2).mean())


def _collate(batch):
    return dict(inputs=[b[0] for b in batch], targets=[b[1] for b in batch])


def _runner(work_dir, max_iters, resume=False):
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(3, generator=gen), torch.randn(1, generator=gen)) for _ in range(8)]
    return Runner(
        model=_Regressor(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=data, batch_size=2, collate_fn=_collate,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2)),
        randomness=dict(seed=0), log_level='WARNING')


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    _runner(tmp_path, 2).train()
    ckpt = torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    assert {'state_dict', 'message_hub', 'optimizer', 'meta'} <= set(ckpt)


def test_resume_continues_to_the_same_weights_as_a_straight_run(tmp_path):
    straight = _runner(tmp_path / 'straight', 4)
    straight.train()
    _runner(tmp_path / 'split', 2).train()
    resumed = _runner(tmp_path / 'split', 4, resume=True)
    resumed.train()
    assert resumed.iter == 4
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_load_from_checkpoint_restores_the_weights(tmp_path):
    runner = _runner(tmp_path, 2)
    runner.train()
    fresh = _Regressor()
    load_checkpoint(fresh, str(tmp_path / 'iter_2.pth'))
    assert torch.equal(fresh.fc.weight, runner.model.fc.weight)


class _Opaque:
    pass


def test_a_file_with_arbitrary_objects_fails_with_the_blocking_name_and_the_way_out(
        tmp_path, monkeypatch):
    path = tmp_path / 'opaque.pth'
    torch.save({'state_dict': {}, 'extra': _Opaque()}, path)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(RuntimeError, match=r'_Opaque.*MMATTN_TRUST_CHECKPOINTS=1'):
        load_local_checkpoint(str(path))


def test_trusting_a_file_through_the_environment_loads_it(tmp_path, monkeypatch):
    path = tmp_path / 'opaque.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'extra': _Opaque()}, path)
    monkeypatch.setenv(TRUST_ENV, '1')
    with pytest.warns(UserWarning, match='weights_only=False'):
        ckpt = load_local_checkpoint(str(path))
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_missing_file_is_reported_with_its_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_local_checkpoint(str(tmp_path / 'nothing.pth'))


def test_safe_loader_refuses_code_execution_payloads(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)

    class _Payload:

        def __reduce__(self):
            return (print, ('should never run',))

    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'state_dict': _Payload()}, f)
    with pytest.raises(RuntimeError, match=names('weights_only')):
        load_local_checkpoint(str(path))


def test_mmcv_nms_and_roi_align_run_under_cpu_bf16_autocast_like_fp32():
    from mmcv.ops import RoIAlign, batched_nms
    gen = torch.Generator().manual_seed(0)
    # 400 boxes in 3 classes: kept indices above 256 are not representable in bf16
    xy = torch.rand(400, 2, generator=gen) * 200
    boxes = torch.cat([xy, xy + 5 + torch.rand(400, 2, generator=gen) * 40], 1).bfloat16()
    scores = torch.rand(400, generator=gen).bfloat16()
    labels = torch.randint(0, 3, (400, ), generator=gen)
    feats = torch.randn(1, 4, 16, 16, generator=gen).bfloat16()
    rois = torch.tensor([[0, 1.0, 1.0, 9.0, 12.0], [0, 4.0, 2.0, 15.0, 8.0]])
    align = RoIAlign((3, 3), spatial_scale=1.0, sampling_ratio=2)
    nms_cfg = dict(type='nms', iou_threshold=0.5)
    # the same (bf16-representable) inputs in fp32 outside autocast: the exact answer
    dets_fp32, keep_fp32 = batched_nms(boxes.float(), scores.float(), labels, nms_cfg)
    pooled_fp32 = align(feats.float(), rois)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        dets, keep = batched_nms(boxes, scores, labels, nms_cfg)
        pooled = align(feats, rois)
    assert dets.dtype == torch.bfloat16 and pooled.dtype == torch.bfloat16
    assert keep.dtype == torch.long and keep.max() > 256 and len(keep) < 400
    assert torch.equal(keep, keep_fp32)  # the same boxes, in the same order
    torch.testing.assert_close(dets.float(), dets_fp32.bfloat16().float(), rtol=0, atol=0)
    # fp32 kernel on the same inputs, the result rounded once to bf16
    torch.testing.assert_close(pooled.float(), pooled_fp32.bfloat16().float(), rtol=0, atol=0)


@pytest.mark.slow  # a fresh interpreter imports mmdet
def test_mmdet_calls_the_fp32_batched_nms_whether_imported_before_or_after_mmattn():
    import subprocess
    import sys

    from conftest import REPO
    # a fresh interpreter: mmdet modules that bound batched_nms before mmattn was imported,
    # and one imported after
    script = (
        'from mmdet.models.layers import bbox_nms\n'
        'from mmdet.models.dense_heads import rpn_head\n'
        'import mmattn, mmcv.ops\n'
        'from mmdet.models.dense_heads import centernet_head\n'
        'for m in (mmcv.ops, bbox_nms, rpn_head, centernet_head):\n'
        '    assert getattr(m.batched_nms, "_mmattn_fp32", False), m.__name__\n')
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', script], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_loading_a_checkpoint_with_missing_and_unexpected_keys_names_each_key(tmp_path, caplog):
    import logging
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    state = model.state_dict()
    del state['1.weight']
    state['extra.bias'] = torch.zeros(1)
    torch.save({'state_dict': state}, tmp_path / 'partial.pth')
    logger = logging.getLogger('mmattn.tests.checkpoint')
    with caplog.at_level(logging.WARNING, logger=logger.name):
        load_checkpoint(model, str(tmp_path / 'partial.pth'), strict=False, logger=logger)
    assert 'missing keys in source state_dict: 1.weight' in caplog.text
    assert 'unexpected key in source state_dict: extra.bias' in caplog.text
    with pytest.raises(RuntimeError, match='1.weight'):
        load_checkpoint(model, str(tmp_path / 'partial.pth'), strict=True)


def test_config_loads_print_no_third_party_deprecation_warning_but_ours_still_show(repo_root):
    """mmengine imports pkg_resources when it resolves `mmdet::` / `mmseg::` bases; setuptools
    >= 81 then warns on every config load. That message is silenced; others are not."""
    import subprocess
    import sys
    code = ('import warnings; warnings.simplefilter("default"); import mmattn; '
            'from mmengine.config import Config; '
            "Config.fromfile('configs/eanet_r50_ade20k.py'); "
            "Config.fromfile('configs/mask_rcnn_ea_r50_fpn_1x_coco.py'); "
            "warnings.warn('a warning of our own', UserWarning)")
    result = subprocess.run([sys.executable, '-c', code], cwd=repo_root, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'pkg_resources' not in result.stderr, result.stderr[-2000:]
    assert 'a warning of our own' in result.stderr
