"""Hooks registered in mmengine's root ``HOOKS`` (visible from the mmdet and mmseg scopes)."""
import math
import random
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from ..layers import switch_to_deploy


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
            parts = {k: float(v) for k, v in outputs.items()
                     if torch.is_tensor(v) and v.numel() == 1}
            raise ValueError(f'iteration {runner.iter + 1}: the loss is {float(loss)} '
                             f'(terms: {parts}); lower the learning rate, enable gradient '
                             'clipping, or look for bad inputs/annotations.')


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` continue with the random streams a straight run would have used.

    mmengine re-seeds at start-up and does not store random states in checkpoints, so after a
    resume dropout masks, RoI sampling and data augmentation differ from an uninterrupted run.
    This hook stores the torch, NumPy and Python states in every checkpoint and restores them
    when training starts from one:

    * epoch-based loops resume at an epoch boundary: all three states are restored;
    * iteration-based loops replay the data pipeline of the finished iterations to skip them,
      which advances NumPy's and Python's streams exactly as the straight run did (the model
      does not draw from them); only the torch state, which the model draws from, is restored.

    ``tools/train.py`` adds it to every run. States are plain tensors, arrays and tuples, so
    checkpoints still load with ``weights_only=True``.
    """

    priority = 'VERY_LOW'
    _KEY = 'mmattn_rng_state'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        name, keys, pos, gauss_next, cached = np.random.get_state()
        checkpoint[self._KEY] = dict(
            torch=torch.get_rng_state(),
            numpy=dict(name=name, keys=keys, pos=pos, has_gauss=gauss_next, cached=cached),
            python=random.getstate())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get(self._KEY)

    def before_train(self, runner) -> None:
        state, self._pending = self._pending, None
        if state is None or not getattr(runner, '_resume', False):
            return
        torch.set_rng_state(state['torch'])
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            numpy_state = state['numpy']
            np.random.set_state((numpy_state['name'], numpy_state['keys'], numpy_state['pos'],
                                 numpy_state['has_gauss'], numpy_state['cached']))
            random.setstate(_as_tuples(state['python']))
        print_log('restored the random states of the checkpoint', logger='current')


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
