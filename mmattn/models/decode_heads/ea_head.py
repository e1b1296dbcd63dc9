"""EANet decode head for mmseg (arXiv:2105.02358), built around :class:`ExternalAttention`."""
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead

from mmattn.layers import ExternalAttention, MultiHeadExternalAttention
from mmattn.registry import register_model
from ..utils import norm_layer_from_cfg


@register_model()
class EAHead(BaseDecodeHead):
    """EANet head: 3x3 ConvModule, External Attention, 3x3 ConvModule, dropout, 1x1 classifier.

    As the official segmentation code: ``in_channels -> ea_channels`` (2048 -> 512), EA with
    ``num_memory`` units, then ``ea_channels -> channels`` (512 -> 256); ``dropout_ratio`` and the
    classifier are those of :class:`BaseDecodeHead`. The EA norm follows ``norm_cfg``.

    Args:
        ea_channels (int): channels of the External Attention block. Default: 512.
        num_memory (int): memory units S. Default: 64.
        num_heads (int): EA heads sharing the memories (1 is the paper's segmentation setting).
            Default: 1.
        deploy (bool): build the EA block in its deploy form, to load a checkpoint written by
            ``tools/model_converters/reparameterize_model.py``. Default: False.
        **kwargs: :class:`BaseDecodeHead` arguments (in_channels, channels, num_classes,
            norm_cfg, dropout_ratio, align_corners, loss_decode, ...).
    """

    def __init__(self, ea_channels: int = 512, num_memory: int = 64, num_heads: int = 1,
                 deploy: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(self.in_channels, int):
            raise ValueError(f'EAHead takes one input feature map: in_channels must be an int, '
                             f'got {self.in_channels} (input_transform={self.input_transform!r}; '
                             "use None or 'resize_concat')")
        conv_kwargs = dict(padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                           act_cfg=self.act_cfg)
        self.in_conv = ConvModule(self.in_channels, ea_channels, 3, **conv_kwargs)
        ea_kwargs = dict(num_memory=num_memory, norm_layer=norm_layer_from_cfg(self.norm_cfg),
                         deploy=deploy)
        if num_heads == 1:
            self.ea = ExternalAttention(ea_channels, **ea_kwargs)
        else:
            self.ea = MultiHeadExternalAttention(ea_channels, num_heads=num_heads, **ea_kwargs)
        self.out_conv = ConvModule(ea_channels, self.channels, 3, **conv_kwargs)

    def _forward_feature(self, inputs):
        """Features before the classifier: (B, channels, H, W) at the input's resolution."""
        x = self._transform_inputs(inputs)
        return self.out_conv(self.ea(self.in_conv(x)))

    def forward(self, inputs):
        return self.cls_seg(self._forward_feature(inputs))
