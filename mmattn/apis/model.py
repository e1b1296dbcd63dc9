"""Build the model of an mmdet / mmseg / mmpretrain config, with a checkpoint loaded strictly."""
import copy
from typing import Optional, Union

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn

from ..utils.config import host_library

__all__ = ['build_model', 'load_config', 'model_config']


def load_config(config: Union[str, Config]) -> Config:
    """A config file, or a copy of a loaded config (the caller's stays untouched)."""
    return Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)


def model_config(cfg: Config) -> dict:
    """``cfg.model`` as mmengine's Runner builds it: mmpretrain configs give the data
    preprocessor (normalisation) at the top level, and the Runner moves it into the model."""
    model = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return model


def build_model(config: Union[str, Config], checkpoint: Optional[str] = None) -> nn.Module:
    """The config's model in eval mode, in the config's host scope (mmdet or mmseg).

    Args:
        config (str | Config): config file or loaded config.
        checkpoint (str, optional): weights to load; every key must match (a missing or
            unexpected key is an error naming it). None: the model's own init
            (``init_weights()``), e.g. to export or count a randomly initialised model.
    """
    cfg = load_config(config)
    init_default_scope(host_library(cfg))
    model = MODELS.build(model_config(cfg))
    if checkpoint is None:
        model.init_weights()
    else:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.eval()
