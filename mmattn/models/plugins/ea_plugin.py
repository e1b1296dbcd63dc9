"""External Attention as an mmcv plugin (``build_plugin_layer``), for mmdet ResNet ``plugins=``."""
from typing import Dict, Optional

from mmattn.layers import MultiHeadExternalAttention
from mmattn.registry import register_model
from ..utils import norm_layer_from_cfg


@register_model()
class ExternalAttentionPlugin(MultiHeadExternalAttention):
    """:class:`MultiHeadExternalAttention` with mmcv's plugin signature (``in_channels`` first).

    mmdet's ``ResNet(plugins=[dict(cfg=dict(type='ExternalAttentionPlugin'), stages=...,
    position='after_conv3')])`` puts one in *every* block of the chosen stages; for the paper's
    detection setting (one module after the last block of stage 4) use :class:`EAResNet`, which
    builds this class.

    Args:
        in_channels (int): channels of the feature map (given by the host).
        num_memory (int): memory units S. Default: 64.
        num_heads (int): heads sharing the memories. Default: 1.
        norm_cfg (dict | None): mmcv norm config of the output norm. Default: ``dict(type='BN')``.
        zero_init_norm (bool): start the output norm at 0 so that the module is the identity on
            the (non-negative) block output of a pretrained backbone. Default: True, as mmcv's
            ``NonLocal2d`` (``zeros_init=True``) for the same reason; the paper does not say.
        **kwargs: ``attn_drop``, ``residual``, ``with_act``, ``deploy`` of the layer.
    """

    _abbr_ = 'ea'

    def __init__(self,
                 in_channels: int,
                 num_memory: int = 64,
                 num_heads: int = 1,
                 norm_cfg: Optional[Dict] = dict(type='BN'),
                 zero_init_norm: bool = True,
                 **kwargs) -> None:
        super().__init__(in_channels, num_heads=num_heads, num_memory=num_memory,
                         norm_layer=norm_layer_from_cfg(norm_cfg),
                         zero_init_norm=zero_init_norm, **kwargs)
