"""X-volution as a conv layer for OpenMMLab configs (``type='XVolution'``).

mmdet/mmseg ResNet build ``conv2`` of a Bottleneck with mmcv's ``build_conv_layer(dcn, ...)``, which
looks the type up in the registry, so ``dcn=dict(type='mmattn.XVolution', ...)`` with
``stage_with_dcn=(False, False, True, False)`` replaces the 3x3 convs of stage 3 (the strided first
block included). The ResNet hook expresses everything X-volution needs, so there is no
``XVolutionResNet``: checkpoint remapping lives in ``XVolution._load_from_state_dict``.
"""
from typing import Dict, Optional

from mmattn import layers
from mmattn.registry import register_model
from ..utils import norm_layer_from_cfg


@register_model()
class XVolution(layers.XVolution):
    """:class:`mmattn.layers.XVolution` with its branch norms given as an mmcv ``norm_cfg``.

    The registered ``'XVolution'`` (same name, parameters and forward as the operator). Configs of SyncBN models pass the backbone's norm config
    (``dcn=dict(type='mmattn.XVolution', norm_cfg=norm_cfg, ...)``), so that the branch BNs
    synchronise like the rest of the network.

    Args:
        *args: ``in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
            bias``, as mmcv's ``build_conv_layer`` passes them.
        norm_cfg (dict): mmcv norm config of the branch norms. Default: ``dict(type='BN')``.
        **kwargs: the other arguments of :class:`mmattn.layers.XVolution` (``attention``,
            ``directions``, ..., ``deploy``).
    """

    def __init__(self, *args, norm_cfg: Optional[Dict] = dict(type='BN'), **kwargs) -> None:
        if norm_cfg is None:
            raise ValueError('XVolution: norm_cfg must be a BatchNorm config (the branch norms '
                             'fold into the deploy form), got None')
        super().__init__(*args, norm_layer=norm_layer_from_cfg(norm_cfg), **kwargs)
