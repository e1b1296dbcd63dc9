"""The authors'-protocol VOC configs validate as the official single-scale evaluation does.

Reference: ``official_evaluate`` (tests/official_eanet.py), our re-implementation of
MenghaoGuo/EANet ``eval_torch.py`` with the EMANet ``dataset.py`` ``ValDataset`` and
``metric.py`` it imports. Ours: the config's own validation loop (mmengine ``Runner.val``, the
config's dataset, pipeline, data preprocessor and ``IoUMetric``), with the reference's random
weights converted by ``convert_eanet``.
"""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner
from PIL import Image

import mmattn  # noqa: F401
from conftest import REPO
from mmattn.datasets import make_voc_semantic
from mmattn.models.converters.eanet import convert_eanet
from mmattn.utils.config import drop_pretrained_init, replace_sync_bn
from official_eanet import (OfficialEANet, normalise, official_evaluate, official_miou,
                           randomise)

SIZE = (61, 90)  # padded to (65, 97): both sides pad


class _Seen(BaseMetric):
    """Keeps what the evaluator hands its metrics: logits, prediction and label per image."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append((osp.basename(sample['img_path'])[:-4],
                                 sample['seg_logits']['data'], sample['pred_sem_seg']['data'][0],
                                 sample['gt_sem_seg']['data'][0]))

    def compute_metrics(self, results):
        self.seen = list(results)
        return {}


@pytest.fixture(scope='module')
def official_and_voc_val(tmp_path_factory):
    """The reference model with random weights, and a VOC folder whose SegmentationClassAug val
    labels agree with that model on part of the pixels (so that IoUs are neither 0 nor 1) and
    carry 255 bands (VOC's boundaries); SegmentationClass holds other labels, so that reading
    the wrong folder shows."""
    official = randomise(OfficialEANet(depth=50), seed=5)
    root = str(tmp_path_factory.mktemp('voc'))
    paths = make_voc_semantic(root, num_train=1, num_val=2, size=SIZE, seed=3)
    with open(osp.join(root, paths['val_split'])) as file:
        ids = file.read().split()
    os.makedirs(osp.join(root, 'SegmentationClassAug'))
    for image_id in ids:
        name = image_id + '.png'
        rgb = np.asarray(Image.open(osp.join(root, 'JPEGImages', image_id + '.jpg')).convert('RGB'))
        with torch.no_grad():
            predicted = official(normalise(torch.from_numpy(rgb.copy()))).argmax(1)[0].numpy()
        label = np.array(Image.open(osp.join(root, 'SegmentationClass', name)))
        label[:, ::3] = predicted[:, ::3]
        label[::9] = 255
        Image.fromarray(label).save(osp.join(root, 'SegmentationClassAug', name))
        Image.fromarray(np.zeros_like(label)).save(osp.join(root, 'SegmentationClass', name))
    return official, root, ids


def _validate(config, root, checkpoint, work_dir):
    """Runner.val() of ``config`` on the folder; returns its metrics and what it scored."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    replace_sync_bn(cfg)
    drop_pretrained_init(cfg)
    cfg.model.backbone.depth = 50
    cfg.val_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.val_dataloader.dataset.data_root = root
    cfg.update(work_dir=work_dir, load_from=checkpoint, log_level='WARNING')
    runner = Runner.from_cfg(cfg)
    seen = _Seen()
    runner.val_loop.evaluator.metrics.append(seen)
    metrics = runner.val()
    return metrics, sorted(seen.seen)


@pytest.mark.slow  # two ResNet-50 models on CPU and a Runner: about 15 s on 2 cores
@pytest.mark.parametrize('config', ['eanet_r50_voc12aug.py'])
def test_validation_during_training_equals_the_official_single_scale_evaluation(
        config, official_and_voc_val, tmp_path):
    official, root, ids = official_and_voc_val
    checkpoint = str(tmp_path / 'converted.pth')
    torch.save({'state_dict': convert_eanet(official.state_dict(), depth=50)}, checkpoint)

    expected_hist, expected_logits = official_evaluate(official, root, ids)
    metrics, seen = _validate(config, root, checkpoint, str(tmp_path / 'work'))

    assert [image_id for image_id, *_ in seen] == sorted(ids)
    hist = torch.zeros_like(expected_hist)
    for (image_id, logits, prediction, label), reference in zip(
            seen, [expected_logits[ids.index(image_id)] for image_id, *_ in seen]):
        assert logits.shape == (21, *SIZE)  # cropped back to the image
        reference = reference[0, :, :SIZE[0], :SIZE[1]]
        assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()
        keep = label != 255
        hist += torch.bincount(21 * label[keep] + prediction[keep], minlength=21 * 21).reshape(
            21, 21)
    assert 0 < official_miou(expected_hist) < 1
    assert torch.equal(hist, expected_hist)  # the confusion matrix, pixel for pixel
    assert metrics['mIoU'] == pytest.approx(100 * official_miou(expected_hist), abs=0.005)
