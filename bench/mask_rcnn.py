"""Mask R-CNN training step, ours against mmdet's plain ResNet, measured side by side.

Shared by ``bench/lambda_layer.py`` and ``bench/xvolution.py``: each variant is one of our
configs, optionally with its backbone edited back to the host's plain ResNet; all variants take
the same synthetic batch and their steps (forward + backward + SGD) run interleaved.
"""
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch

from bench.common import interleaved_ms

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'

# name -> (config file under configs/, edit of the backbone config dict in place, or None)
Variants = Dict[str, Tuple[str, Optional[Callable[[dict], None]]]]


def _build(config: str, edit: Optional[Callable[[dict], None]]) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.logging import MMLogger

    from mmattn.apis.model import build_model

    # The newest logger is mmengine's current one: init_weights() would log every parameter.
    MMLogger.get_instance('bench_mask_rcnn', log_level='WARNING')
    cfg = Config.fromfile(str(CONFIGS / config))
    cfg.model.backbone.init_cfg = None  # no pretrained file: constructor init is enough to time
    if edit is not None:
        edit(cfg.model.backbone)
    torch.manual_seed(0)
    return build_model(cfg).train()


def detection_batch(batch: int, side: int) -> dict:
    """``batch`` uint8 images of ``side`` x ``side``, each with two boxes and their masks."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    generator = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[8., 16., side / 2, side / 2 + 16], [side / 3, 4., side - 8, side / 2]])
    masks = torch.zeros(2, side, side, dtype=torch.uint8)
    for index, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
        masks[index, y1:y2, x1:x2] = 1
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 255, (3, side, side), generator=generator,
                                    dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(img_shape=(side, side), ori_shape=(side, side),
                                             pad_shape=(side, side), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(bboxes=boxes.clone(), labels=torch.tensor([1, 3]),
                                           masks=BitmapMasks(masks.numpy(), side, side))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step_ms(variants: Variants, batch: int, side: int, repeats: int,
                  clock: str = 'wall') -> Dict[str, float]:
    """Best-of-``repeats`` ms of one training step per variant, the variants interleaved.

    The optimiser is SGD with momentum and learning rate 0, so every step does the full update
    work while the weights (and so the work of the next step) stay the same.
    """
    from mmengine.optim import build_optim_wrapper
    data = detection_batch(batch, side)
    steps = {}
    for name, (config, edit) in variants.items():
        model = _build(config, edit)
        optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.0,
                                                                       momentum=0.9)))
        steps[name] = (lambda m=model, o=optim_wrapper: m.train_step(data, o))
    return interleaved_ms(steps, repeats, clock=clock)
