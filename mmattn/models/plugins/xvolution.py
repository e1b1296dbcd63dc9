"""Registers :class:`mmattn.layers.XVolution` as a conv layer for OpenMMLab configs.

mmdet/mmseg ResNet build ``conv2`` of a Bottleneck with mmcv's ``build_conv_layer(dcn, ...)``, which
looks the type up in the registry, so ``dcn=dict(type='mmattn.XVolution', ...)`` with
``stage_with_dcn=(False, False, True, False)`` replaces the 3x3 convs of stage 3 (the strided first
block included). The ResNet hook expresses everything X-volution needs, so there is no
``XVolutionResNet``: checkpoint remapping lives in ``XVolution._load_from_state_dict``.
"""
from mmattn.layers import XVolution
from mmattn.registry import register_model

register_model()(XVolution)
