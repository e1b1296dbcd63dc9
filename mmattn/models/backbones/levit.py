"""LeViT as a multi-scale backbone for mmdet / mmseg (``type='LeViT'`` or ``'mmattn.LeViT'``).

The operator lives in :mod:`mmattn.layers.levit_blocks`; this adapter picks the architecture,
builds the norms from mmcv configs and returns ``(B, C, H, W)`` maps for necks.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.layers import Reparameterizable, bn_scale_shift
from mmattn.layers.levit_blocks import ConvBN, LeViTBlock, LeViTShrinkBlock, LeViTStem, LinearBN
from mmattn.registry import register_model
from ..utils import norm_layer_from_cfg

_ARCH_KEYS = ('embed_dims', 'key_dim', 'num_heads', 'depths')


@register_model()
class LeViT(BaseModule, Reparameterizable):
    """LeViT backbone for dense prediction: any input size, features at strides 4 to 64.

    Paper: "LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference",
    arXiv:2104.01136. Checkpoints of the official code, timm and mmpretrain load after
    ``tools/model_converters/levit2mmattn.py``.

    Output levels (``out_indices`` index them, negative values count from the end):

    ====== ====== ============================================ ========
    level  stride  feature                                     channels
    ====== ====== ============================================ ========
    0      4       stem, after the 2nd conv + BN + Hardswish   C1 / 4
    1      8       stem, after the 3rd conv + BN + Hardswish   C1 / 2
    2      16      stage 1                                     C1
    3      32      stage 2 (opens with a shrink attention)     C2
    4      64      stage 3 (opens with a shrink attention)     C3
    ====== ====== ============================================ ========

    A ``H x W`` input gives ``ceil(H / s) x ceil(W / s)`` maps at stride ``s``.

    Args:
        arch (str | dict): '128s', '128', '192', '256' or '384' (official ``levit.py``
            specification), or a dict with keys ``embed_dims`` (list of int), ``key_dim``
            (int), ``num_heads`` (list of int) and ``depths`` (list of int), one entry per
            stage. Defaults to '256'.
        in_channels (int): image channels. Defaults to 3.
        out_indices (Sequence[int]): levels to return, in this order. Defaults to (2, 3, 4).
        drop_path_rate (float): stochastic depth of every residual branch (one rate for all,
            as in the official code). Defaults to 0.
        pretrain_img_size (int): image size of the pretraining; the attention-bias tables are
            stored at its token grids (14 / 7 / 4 for 224). Defaults to 224.
        attn_ratio (float): value dim / key dim in the stage blocks. Defaults to 2.
        mlp_ratio (float): MLP hidden / dim. Defaults to 2.
        shrink_attn_ratio (float): value dim / key dim of the shrink attentions. Defaults to 4.
        bias_interpolation (str): resize of the bias tables to other grids, 'bicubic' |
            'bilinear' | 'nearest'. Defaults to 'bicubic'.
        norm_cfg (dict): mmcv norm config of every Conv/Linear pair ('BN' becomes 'BN1d' for
            the Linear pairs; 'SyncBN' works for both). Defaults to ``dict(type='BN')``.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k > 0 the stem and the first k
            stages (parameters and norm statistics). Defaults to -1.
        norm_eval (bool): keep every BatchNorm in eval mode while training. Defaults to False.
        deploy (bool): build every Conv/Linear + BN pair folded (the form
            :meth:`switch_to_deploy` gives), to load a deployed checkpoint. Defaults to False.
        init_cfg (dict | list[dict], optional): mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint='checkpoints/levit-256_mmattn.pth')``.
    """

    arch_zoo = {
        '128s': dict(embed_dims=[128, 256, 384], key_dim=16, num_heads=[4, 6, 8], depths=[2, 3, 4]),
        '128': dict(embed_dims=[128, 256, 384], key_dim=16, num_heads=[4, 8, 12], depths=[4, 4, 4]),
        '192': dict(embed_dims=[192, 288, 384], key_dim=32, num_heads=[3, 5, 6], depths=[4, 4, 4]),
        '256': dict(embed_dims=[256, 384, 512], key_dim=32, num_heads=[4, 6, 8], depths=[4, 4, 4]),
        '384': dict(embed_dims=[384, 512, 768], key_dim=32, num_heads=[6, 9, 12], depths=[4, 4, 4]),
    }
    stem_levels = 2

    def __init__(self,
                 arch: Union[str, Dict] = '256',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4),
                 drop_path_rate: float = 0.,
                 pretrain_img_size: int = 224,
                 attn_ratio: float = 2.,
                 mlp_ratio: float = 2.,
                 shrink_attn_ratio: float = 4.,
                 bias_interpolation: str = 'bicubic',
                 norm_cfg: Dict = dict(type='BN'),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        embed_dims = self.arch_settings['embed_dims']
        key_dim = self.arch_settings['key_dim']
        num_stages = len(embed_dims)
        self.num_levels = self.stem_levels + num_stages
        self.out_indices = self._parse_out_indices(out_indices, self.num_levels)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deploy = deploy

        self.stem = LeViTStem(in_channels, embed_dims[0], nn.Hardswish,
                              norm_layer_from_cfg(norm_cfg), deploy)
        level_channels = [embed_dims[0] // 4, embed_dims[0] // 2] + list(embed_dims)
        self.out_channels = [level_channels[i] for i in self.out_indices]

        pretrain_hw = pretrain_img_size // 16  # stem stride [official: img_size // patch_size]
        common = dict(act_layer=nn.Hardswish,
                      norm_layer=norm_layer_from_cfg(norm_cfg, tokens=True),
                      bias_interpolation=bias_interpolation, deploy=deploy)
        self.stages = nn.ModuleList()
        for i, (dim, heads, depth) in enumerate(
                zip(embed_dims, self.arch_settings['num_heads'], self.arch_settings['depths'])):
            blocks = []
            if i > 0:
                blocks.append(
                    LeViTShrinkBlock(embed_dims[i - 1], dim, key_dim, shrink_attn_ratio, mlp_ratio,
                                     drop_path_rate, pretrain_hw, **common))
                pretrain_hw = (pretrain_hw - 1) // 2 + 1
            blocks += [
                LeViTBlock(dim, key_dim, heads, attn_ratio, mlp_ratio, drop_path_rate,
                           pretrain_hw, **common) for _ in range(depth)
            ]
            self.stages.append(nn.ModuleList(blocks))
        self._freeze_stages()

    @classmethod
    def _parse_arch(cls, arch: Union[str, Dict]) -> Dict:
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise KeyError(f'LeViT: arch ({arch!r}) must be one of {sorted(cls.arch_zoo)} '
                               'or a dict')
            return dict(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, dict):
            raise TypeError(f'LeViT: arch must be a str or a dict, got {type(arch).__name__}')
        missing = [key for key in _ARCH_KEYS if key not in arch]
        if missing:
            raise KeyError(f'LeViT: the arch dict misses {missing}; it needs {list(_ARCH_KEYS)} '
                           f'(got {sorted(arch)})')
        lengths = {key: len(arch[key]) for key in ('embed_dims', 'num_heads', 'depths')}
        if len(set(lengths.values())) != 1:
            raise ValueError(f'LeViT: embed_dims, num_heads and depths need one entry per stage, '
                             f'got lengths {lengths}')
        return {key: arch[key] for key in _ARCH_KEYS}

    @staticmethod
    def _parse_out_indices(out_indices: Sequence[int], num_levels: int) -> List[int]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        parsed = []
        for index in out_indices:
            if not -num_levels <= index < num_levels:
                raise ValueError(f'LeViT: out_indices entry ({index}) must be in '
                                 f'[{-num_levels}, {num_levels - 1}] (levels: 2 stem maps and '
                                 f'{num_levels - 2} stages)')
            parsed.append(index % num_levels)
        if len(set(parsed)) != len(parsed) or not parsed:
            raise ValueError(f'LeViT: out_indices ({tuple(out_indices)}) must be distinct and '
                             'non-empty')
        return parsed

    def forward(self, x: torch.Tensor) -> tuple:
        """``x``: ``(B, 3, H, W)``; returns the requested ``(B, C, H_s, W_s)`` maps in order."""
        _, s4, s8, s16 = self.stem(x)
        levels = {0: s4, 1: s8}
        batch = s16.shape[0]
        hw = tuple(s16.shape[2:])
        tokens = s16.flatten(2).transpose(1, 2)  # B, H*W, C
        last = max(self.out_indices)
        for i, stage in enumerate(self.stages):
            if self.stem_levels + i > last:
                break
            for block in stage:
                tokens, hw = block(tokens, hw)
            if self.stem_levels + i in self.out_indices:
                levels[self.stem_levels + i] = tokens.transpose(1, 2).reshape(batch, -1, *hw)
        return tuple(levels[i] for i in self.out_indices)

    def _freeze_stages(self) -> None:
        frozen = ([self.stem] if self.frozen_stages >= 0 else []) + list(
            self.stages[:max(self.frozen_stages, 0)])
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'LeViT':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _foldable_pairs(self) -> List[tuple]:
        return [(name, module) for name, module in self.named_modules()
                if isinstance(module, (ConvBN, LinearBN)) and not module.deploy]

    def _check_deployable(self) -> None:
        """Check every pair first: never leave a half-converted model."""
        for name, module in self._foldable_pairs():
            try:
                bn_scale_shift(module.bn)
            except TypeError as err:
                raise TypeError(f'LeViT.switch_to_deploy: {name}.bn: {err}') from err

    def _convert_to_deploy(self) -> None:
        """Fold every Conv/Linear + BN pair into one layer, in place."""
        for _, module in self._foldable_pairs():
            module.switch_to_deploy()
