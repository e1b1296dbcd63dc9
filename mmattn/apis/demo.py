"""End-to-end demo: train EANet on a synthetic segmentation set, evaluate, draw predictions.

``tools/demo.py`` is its command line. Writes the ADE20K-style synthetic set (96 training, 24
held-out images, 64x96, 5 shape classes plus background) to ``{work_dir}/data``, trains
``configs/demo_eanet_r18_synthetic.py`` with mmengine's Runner (log every 50 iterations, with
ETA), evaluates mIoU on the held-out images, and writes one PNG per held-out image
(image | ground truth | prediction) to ``{work_dir}/predictions``.
"""
import os
import os.path as osp
import time
from typing import Dict

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from ..datasets import make_ade_semantic
from .launch import build_runner

__all__ = ['chance_miou', 'run_demo']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'demo_eanet_r18_synthetic.py')
PALETTE = np.array([[0, 0, 0], [220, 60, 60], [60, 190, 80], [70, 100, 230], [230, 200, 40],
                    [170, 70, 210]], np.uint8)  # 0: background (black), 1..5: the shapes


def chance_miou(label_dir: str, num_classes: int) -> float:
    """mIoU of the best constant prediction (the most frequent class everywhere)."""
    counts = np.zeros(num_classes)
    for name in os.listdir(label_dir):
        label = np.array(Image.open(osp.join(label_dir, name))).astype(int)
        counts += np.bincount(label.ravel(), minlength=num_classes)
    return float(counts.max() / counts.sum() / num_classes * 100)


def draw_predictions(runner: Runner, data_root: str, out_dir: str) -> int:
    os.makedirs(out_dir, exist_ok=True)
    model = runner.model.eval()
    written = 0
    for batch in runner.test_dataloader:
        with torch.no_grad():
            results = model.test_step(batch)
        for sample in results:
            image = np.array(Image.open(sample.img_path).convert('RGB'))
            truth = sample.gt_sem_seg.data[0].numpy().astype(int)
            pred = sample.pred_sem_seg.data[0].numpy().astype(int)
            panel = np.concatenate([image, PALETTE[truth], PALETTE[pred]], axis=1)
            name = osp.splitext(osp.basename(sample.img_path))[0] + '.png'
            Image.fromarray(panel).resize((panel.shape[1] * 3, panel.shape[0] * 3),
                                          Image.NEAREST).save(osp.join(out_dir, name))
            written += 1
    return written


def run_demo(work_dir: str = 'work_dirs/demo', iters: int = 600,
             config: str = CONFIG) -> Dict[str, float]:
    """Write the data, train, test and draw; print progress like the tool always did.

    Returns:
        dict: ``miou`` (held-out mIoU, %), ``chance_miou`` (best constant prediction, %),
        ``predictions`` (number of PNGs written), ``seconds``.
    """
    start = time.time()
    data_root = osp.join(work_dir, 'data')
    print(f'[demo] writing the synthetic set to {data_root}')
    make_ade_semantic(data_root, num_train=96, num_val=24, size=(64, 96), seed=0)

    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
    cfg.default_hooks.checkpoint.interval = iters
    warmup = max(1, min(50, iters // 10))
    cfg.param_scheduler[0].end = cfg.param_scheduler[1].begin = warmup
    cfg.param_scheduler[1].end = iters
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = data_root
    runner = build_runner(cfg, own_visualizer=True)
    print(f'[demo] training EANet (half-width ResNet-18-D8 + EAHead) for {iters} iterations')
    runner.train()
    metrics = runner.test()
    out_dir = osp.join(work_dir, 'predictions')
    written = draw_predictions(runner, data_root, out_dir)

    chance = chance_miou(osp.join(data_root, 'annotations', 'validation'),
                         cfg.model.decode_head.num_classes)
    print(f'[demo] held-out mIoU: {metrics["mIoU"]:.2f} '
          f'(best constant prediction: {chance:.2f}); per-class IoU in the log above')
    print(f'[demo] {written} prediction PNGs (image | truth | prediction) in {out_dir}')
    seconds = time.time() - start
    print(f'[demo] finished in {seconds:.0f} s')
    return dict(miou=float(metrics['mIoU']), chance_miou=chance, predictions=written,
                seconds=seconds)
