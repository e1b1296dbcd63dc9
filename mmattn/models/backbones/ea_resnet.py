"""mmdet ResNet with External Attention after chosen blocks (arXiv:2105.02358, Sec. 4.4).

The paper adds one EA module at the end of ResNet stage 4 for Mask R-CNN. mmdet's ``plugins=``
hook inserts a module inside *every* block of a stage, so this backbone adds EA modules after
chosen blocks instead, by default after the last block of the last stage only.
"""
from typing import Dict, Sequence, Tuple

import torch
from mmcv.cnn import build_plugin_layer
from mmdet.models.backbones import ResNet
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.registry import register_model


@register_model()
class EAResNet(ResNet):
    """mmdet :class:`ResNet` with External Attention after selected blocks.

    Every ResNet option (depth, frozen_stages, norm_eval, with_cp, dcn, plugins, init_cfg) works
    as in mmdet, and the block parameter names are unchanged, so ImageNet ResNet checkpoints load
    as they are (the EA parameters are reported as missing and keep their own init).

    Args:
        ea_cfg (dict): plugin config of the EA module, built with mmcv's ``build_plugin_layer``
            and the block's output channels. Default: ``dict(type='ExternalAttentionPlugin')``
            (S=64, one head, BN, output norm zero-initialised).
        ea_stages (Sequence[bool]): stages that get EA, one flag per stage.
            Default: ``(False, False, False, True)`` (stage 4).
        ea_blocks (Sequence[int]): block indices, within each chosen stage, after which an EA
            module runs; negative indices count from the end. Default: ``(-1,)`` (last block).
        ea_norm_eval (bool): whether ``norm_eval=True`` also freezes the BN statistics of the EA
            modules. Default: False: they are new, randomly initialised layers with no
            statistics to keep, so they train with batch statistics.
        **kwargs: :class:`mmdet.models.backbones.ResNet` arguments.
    """

    def __init__(self,
                 ea_cfg: Dict = dict(type='ExternalAttentionPlugin'),
                 ea_stages: Sequence[bool] = (False, False, False, True),
                 ea_blocks: Sequence[int] = (-1,),
                 ea_norm_eval: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if len(ea_stages) != self.num_stages:
            raise ValueError(f'EAResNet: ea_stages {tuple(ea_stages)} needs one flag per stage '
                             f'({self.num_stages} stages)')
        self.ea_norm_eval = ea_norm_eval
        # (stage index, block index) -> attribute name. The EA modules are direct children so
        # that mmengine calls their init_weights() after ResNet's Kaiming/Constant init and
        # before a Pretrained checkpoint is loaded.
        self.ea_names: Dict[Tuple[int, int], str] = {}
        for stage_idx, layer_name in enumerate(self.res_layers):
            if not ea_stages[stage_idx]:
                continue
            num_blocks = len(getattr(self, layer_name))
            channels = self.block.expansion * self.base_channels * 2**stage_idx
            for block_idx in ea_blocks:
                if not -num_blocks <= block_idx < num_blocks:
                    raise ValueError(f'EAResNet: ea_blocks index {block_idx} is out of range '
                                     f'for {layer_name}, which has {num_blocks} blocks')
                block_idx %= num_blocks
                name = f'{layer_name}_ea{block_idx}'
                _, ea = build_plugin_layer(ea_cfg, in_channels=channels)
                self.add_module(name, ea)
                self.ea_names[(stage_idx, block_idx)] = name
        if not self.ea_names:
            raise ValueError(f'EAResNet: no EA module was placed (ea_stages={tuple(ea_stages)}, '
                             f'ea_blocks={tuple(ea_blocks)}); use mmdet ResNet instead')

    def ea_modules(self):
        """The EA modules in forward order."""
        return [getattr(self, self.ea_names[key]) for key in sorted(self.ea_names)]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for stage_idx, layer_name in enumerate(self.res_layers):
            for block_idx, block in enumerate(getattr(self, layer_name)):
                x = block(x)
                ea_name = self.ea_names.get((stage_idx, block_idx))
                if ea_name is not None:
                    x = getattr(self, ea_name)(x)
            if stage_idx in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'EAResNet':
        super().train(mode)
        if mode and self.norm_eval and not self.ea_norm_eval:
            for module in self.ea_modules():
                for norm in module.modules():
                    if isinstance(norm, _BatchNorm):
                        norm.train()
        return self
