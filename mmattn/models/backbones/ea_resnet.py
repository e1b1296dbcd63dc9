"""mmdet ResNet with External Attention after chosen blocks (arXiv:2105.02358; docs/paper_facts.md).

The paper adds one EA module at the end of ResNet stage 4 for Mask R-CNN. mmdet's ``plugins=``
hook inserts a module inside *every* block of a stage, so this backbone uses ResNet's other hook,
``make_res_layer``: the stage's ``nn.Sequential`` gets the EA module right after the chosen
block, under the name ``ea{block}`` (``layer4.ea2`` for ResNet-50). ResNet's own forward,
``frozen_stages``, ``norm_eval`` and ``with_cp`` then apply to EA as to the blocks around it.
"""
import re
import warnings
from collections import OrderedDict
from typing import Dict, List, Sequence

from mmcv.cnn import build_plugin_layer
from mmdet.models.backbones import ResNet
from mmengine.model import Sequential
from torch import nn

from mmattn.registry import register_model
from .utils import chosen_blocks, train_new_norms

# 'layer4_ea2.' (mmattn < 0.2) -> 'layer4.ea2.'
_OLD_EA_KEY = re.compile(r'^(layer\d+)_(ea\d+)\.')


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
            statistics to keep, so they train with batch statistics (unless their stage is
            frozen by ``frozen_stages``).
        deploy (bool): build the EA modules in their deploy form, to load a checkpoint written
            by ``tools/model_converters/reparameterize_model.py``. Default: False.
        **kwargs: :class:`mmdet.models.backbones.ResNet` arguments.
    """

    def __init__(self,
                 ea_cfg: Dict = dict(type='ExternalAttentionPlugin'),
                 ea_stages: Sequence[bool] = (False, False, False, True),
                 ea_blocks: Sequence[int] = (-1,),
                 ea_norm_eval: bool = False,
                 deploy: bool = False,
                 **kwargs) -> None:
        # Read by make_res_layer, which ResNet.__init__ calls once per stage.
        self.ea_cfg = dict(ea_cfg, deploy=True) if deploy else dict(ea_cfg)
        self.ea_stages = tuple(ea_stages)
        self.ea_blocks = tuple(ea_blocks)
        self.ea_norm_eval = ea_norm_eval
        self.ea_names: List[str] = []  # 'layer4.ea2', in forward order
        super().__init__(**kwargs)
        if len(self.ea_stages) != self.num_stages:
            raise ValueError(f'EAResNet: ea_stages {self.ea_stages} needs one flag per stage '
                             f'({self.num_stages} stages)')
        if not self.ea_names:
            raise ValueError(f'EAResNet: no EA module was placed (ea_stages={self.ea_stages}, '
                             f'ea_blocks={self.ea_blocks}); use mmdet ResNet instead')

    def make_res_layer(self, **kwargs) -> Sequential:
        """ResNet's stage, with an EA module after each chosen block of a chosen stage."""
        res_layer = super().make_res_layer(**kwargs)
        stage = len(self.res_layers)  # ResNet appends each stage's name after this call
        if stage >= len(self.ea_stages) or not self.ea_stages[stage]:
            return res_layer
        chosen = chosen_blocks('EAResNet: ea_blocks', f'layer{stage + 1}', len(res_layer),
                               self.ea_blocks)
        channels = kwargs['planes'] * kwargs['block'].expansion
        modules = []
        for index, block in enumerate(res_layer):
            modules.append((str(index), block))
            if index in chosen:
                _, ea = build_plugin_layer(self.ea_cfg, in_channels=channels)
                modules.append((f'ea{index}', ea))
                self.ea_names.append(f'layer{stage + 1}.ea{index}')
        # mmengine's Sequential, as mmdet's ResLayer: init_weights() reaches the EA modules
        return Sequential(OrderedDict(modules))

    def ea_modules(self) -> Dict[str, nn.Module]:
        """The EA modules by name (``'layer4.ea2'``), in forward order."""
        modules = dict(self.named_modules())
        return {name: modules[name] for name in self.ea_names}

    def train(self, mode: bool = True) -> 'EAResNet':
        super().train(mode)  # applies frozen_stages and norm_eval
        if mode and self.norm_eval and not self.ea_norm_eval:
            stages = {name: int(name.split('.')[0][len('layer'):]) for name in self.ea_names}
            train_new_norms(self.ea_modules(), stages, self.frozen_stages)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # mmattn < 0.2 kept the EA modules beside the stages ('layer4_ea2.*'); they now sit
        # inside them ('layer4.ea2.*'). Old checkpoints load, with a deprecation warning.
        old = [key for key in state_dict if key.startswith(prefix) and
               _OLD_EA_KEY.match(key[len(prefix):])]
        for key in old:
            state_dict[prefix + _OLD_EA_KEY.sub(r'\1.\2.', key[len(prefix):], count=1)] = \
                state_dict.pop(key)
        if old:
            warnings.warn(f'EAResNet: checkpoint keys {prefix}layerN_eaK.* are the layout of '
                          f'mmattn < 0.2; loaded as {prefix}layerN.eaK.* ({len(old)} tensors). '
                          'Re-save the checkpoint to silence this.', DeprecationWarning)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

