"""Deploy checkpoints: write them from a trained model, and build configs that load them.

mmpretrain's convention: the training checkpoint is converted once
(``tools/model_converters/reparameterize_model.py CONFIG CKPT OUT``) and the deployed model is
built by the same config with ``deploy=True`` on every module that has a deploy form, which
:func:`deploy_config` sets. ``tools/test.py CONFIG OUT --deploy`` recognises such a checkpoint
by its meta (``meta['deploy'] is True``).
"""
import inspect
from typing import Union

import torch
from mmengine.config import Config

from mmattn.layers import switch_to_deploy
from mmattn.models.converters import save_state_dict
from mmattn.registry import MODELS
from ..utils.config import walk_dicts
from .model import build_model, load_config

__all__ = ['deploy_config', 'is_deploy_checkpoint', 'reparameterize_checkpoint']


def _takes_deploy(type_name) -> bool:
    """Whether the registered mmattn class of a config ``type`` has a ``deploy`` argument."""
    if not isinstance(type_name, str):
        return False
    try:
        cls = MODELS.get(type_name)
    except (KeyError, ImportError):  # another scope that is not installed
        return False
    if cls is None or not cls.__module__.startswith('mmattn.'):
        return False
    # an adapter may pass **kwargs on to the operator that declares ``deploy``
    return any('deploy' in inspect.signature(klass.__init__).parameters
               for klass in cls.__mro__ if klass.__module__.startswith('mmattn.'))


def deploy_config(cfg: Config) -> int:
    """Set ``deploy=True`` on every module of ``cfg.model`` that has a deploy form; in place.

    Returns:
        int: how many module configs were changed (0: the model has no deploy form).
    """

    def _mark(node: dict) -> int:
        if _takes_deploy(node.get('type')) and not node.get('deploy', False):
            node['deploy'] = True
            return 1
        return 0

    return walk_dicts(cfg.model, _mark)


def reparameterize_checkpoint(config: Union[str, Config], checkpoint: str, out: str) -> int:
    """Load a training checkpoint, switch the model to its deploy form and save it to ``out``.

    The result loads (strictly) into ``build_model(cfg)`` after ``deploy_config(cfg)``.

    Returns:
        int: the number of modules (outer ones and their parts, e.g. LeViT and each of its
        Linear + BN pairs) that were converted to their deploy form.

    Raises:
        ValueError: the model of ``config`` has no module with a deploy form.
    """
    cfg = load_config(config)
    model = build_model(cfg, checkpoint)
    before = {name for name, module in model.named_modules() if getattr(module, 'deploy', None)}
    switch_to_deploy(model)
    converted = [name for name, module in model.named_modules()
                 if getattr(module, 'deploy', None) is True and name not in before]
    if not converted:
        raise ValueError(f'reparameterize: the model of {cfg.filename} has no module with a '
                         'deploy form (X-volution, External Attention, LeViT): nothing to do')
    save_state_dict(model.state_dict(), out,
                    dict(deploy=True, source=checkpoint, config=cfg.filename,
                         converted=len(converted)))
    return len(converted)


def is_deploy_checkpoint(path: str) -> bool:
    """Whether ``path`` was written by :func:`reparameterize_checkpoint` (its meta says so)."""
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception:  # not a file we wrote (or unreadable): treated as a training checkpoint
        return False
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return isinstance(meta, dict) and meta.get('deploy') is True
