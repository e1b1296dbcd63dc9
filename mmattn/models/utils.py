"""What the adapters share: the one translation of an mmcv ``norm_cfg`` into an operator norm.

Every operator in :mod:`mmattn.layers` receives its norm the same way, as a ``norm_layer``
factory ``channels -> nn.Module`` (torch alone, no mmcv). OpenMMLab configs describe norms with
mmcv dicts (``dict(type='SyncBN', requires_grad=True)``); :func:`norm_layer_from_cfg` is the only
place that turns one into the other, with mmcv's own ``build_norm_layer`` (so every registered
norm type works, ``requires_grad`` included).
"""
from typing import Callable, Dict, Optional

from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from torch import nn

__all__ = ['norm_layer_from_cfg']

NormFactory = Callable[[int], nn.Module]


def norm_layer_from_cfg(norm_cfg: Optional[Dict], tokens: bool = False) -> NormFactory:
    """``channels -> norm`` factory built from an mmcv norm config.

    Args:
        norm_cfg (dict | None): mmcv norm config; ``None`` gives ``nn.Identity`` (no norm).
        tokens (bool): the norm sees ``(M, C)`` token features (LeViT's Linear + BN pairs)
            rather than ``(B, C, H, W)`` maps: ``'BN'`` becomes ``'BN1d'`` (SyncBN and GN take
            either). Default: False.

    Returns:
        callable: ``factory(channels)`` returns a new norm layer each call.
    """
    if norm_cfg is None:
        return nn.Identity
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise TypeError(f"norm_cfg must be an mmcv norm config dict with a 'type' key (e.g. "
                        f"dict(type='BN')) or None, got {norm_cfg!r}")
    cfg = dict(norm_cfg)
    if isinstance(cfg['type'], str) and MODELS.get(cfg['type']) is None:
        raise KeyError(f"norm_cfg type {cfg['type']!r} is not a registered norm layer (mmcv's "
                       "are 'BN', 'BN1d', 'BN2d', 'SyncBN', 'GN', 'LN', 'IN', ...)")
    if tokens and cfg['type'] in ('BN', 'BN2d'):
        cfg['type'] = 'BN1d'

    def factory(channels: int) -> nn.Module:
        return build_norm_layer(cfg, channels)[1]

    return factory
