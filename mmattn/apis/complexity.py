"""Parameters and multiply-adds of a config's model (mmengine's FlopAnalyzer)."""
from typing import Dict, Sequence, Union

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from ..utils.config import host_library
from .export import TensorForward
from .model import load_config, model_config

__all__ = ['complexity']


def complexity(config: Union[str, Config], shape: Sequence[int]) -> Dict:
    """Count the tensor forward that ``tools/deploy.py`` exports, in the training form.

    Segmentation: image -> logits; detection: image -> backbone + neck features. mmengine counts
    one multiply-add as one "flop", so ``flops`` is MACs, as mmdet / mmseg report.

    Args:
        config (str | Config): config file or loaded config (not modified).
        shape (Sequence[int]): input ``(H, W)``.

    Returns:
        dict: ``params`` (int), ``flops`` (int, multiply-adds), ``uncounted`` (dict: op name ->
        calls of the operators that have no FLOP rule, so an under-count is visible).
    """
    cfg = load_config(config)
    scope = host_library(cfg)
    init_default_scope(scope)
    model = MODELS.build(model_config(cfg)).eval()
    wrapper = TensorForward(model, scope).eval()
    image = torch.randn(1, 3, *shape)
    analyzer = FlopAnalyzer(wrapper, (image, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    flops = analyzer.total()
    return dict(params=parameter_count(model)[''], flops=flops,
                uncounted=dict(analyzer.unsupported_ops()))
