"""Hooks registered in mmengine's root ``HOOKS`` (visible from the mmdet and mmseg scopes)."""
import math
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from ..utils.deploy import switch_to_deploy


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Evaluate the re-parameterised (deploy) form of the model.

    Runs after the checkpoint is loaded and before the first test batch, so the folded
    weights are those of the checkpoint. ``tools/test.py --deploy`` adds it.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        model.eval()
        switch_to_deploy(model)
        print_log('switched every re-parameterisable module to its deploy form',
                  logger='current')


@HOOKS.register_module()
class FiniteCheckHook(Hook):
    """Stop training with a clear error at the first non-finite input image or loss.

    A NaN in an input image (a corrupt file, a bad normalisation) otherwise shows up many
    iterations later as a NaN loss with no hint of its origin. ``tools/train.py --check-finite``
    adds this hook; it costs one ``isfinite`` over each batch.
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None):
        if not data_batch or 'inputs' not in data_batch:
            return
        for index, image in enumerate(data_batch['inputs']):
            if torch.is_tensor(image) and image.is_floating_point() and \
                    not torch.isfinite(image).all():
                samples: Sequence = data_batch.get('data_samples') or []
                path = samples[index].metainfo.get('img_path', '?') if index < len(samples) \
                    else '?'
                raise ValueError(f'iteration {runner.iter + 1}: input image {index} of the batch '
                                 f'({path}) contains NaN or inf values; check the file and the '
                                 'pipeline (normalisation) that produced it.')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None):
        loss = (outputs or {}).get('loss')
        if loss is not None and not math.isfinite(float(loss)):
            parts = {k: float(v) for k, v in outputs.items() if torch.is_tensor(v) and v.numel() == 1}
            raise ValueError(f'iteration {runner.iter + 1}: the loss is {float(loss)} '
                             f'(terms: {parts}); lower the learning rate, enable gradient '
                             'clipping, or look for bad inputs/annotations.')
