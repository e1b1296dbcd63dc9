"""LambdaResNet: a ResNet whose chosen Bottleneck 3x3 convs are lambda layers (arXiv:2102.08602).

One class serves mmdet and mmseg: it subclasses mmseg's ResNet, whose constructor is a superset
of mmdet's (it adds ``contract_dilation`` and ``multi_grid``, used by mmseg's ResNetV1c-D8
configs), so deep stems, dilations, frozen_stages, norm_eval, with_cp, plugins and init_cfg work
as in both hosts. The lambda layers replace ``conv2`` after ResNet has built its blocks, so every
other parameter keeps its name and ImageNet ResNet checkpoints load as they are.

Paper hybrids (``lambda_preset='paper_hybrid'``, the default): lambda layers in c4 and c5 (stages
3 and 4, indices 2 and 3). The paper gives the c4 counts (1 for LambdaResNet-50, 3 for -101, 6 for
-152) and says c4 plus c5 is a good trade-off, but not which c4 blocks. Our choice: every c5 block,
and the c4 lambda layers spread evenly over the stage, each at the END of an equal segment
(ResNet-50: block 5; -101: blocks 7, 14, 22; -152: blocks 5, 11, ..., 35). This keeps the strided
first block of c4 a convolution, puts the last c4 block next to c5's lambda layers as in the
paper's "convolutions first, lambdas last" finding, and spreads the global context through c4.
"""
import logging
from typing import Dict, Optional, Sequence, Tuple

from mmengine.logging import print_log
from mmengine.model import initialize
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix
from mmseg.models.backbones.resnet import Bottleneck, ResNet

from mmattn.layers import LambdaLayer
from mmattn.registry import register_model
from mmattn.utils.config import PRETRAINED_INIT_TYPES
from ..converters.checkpoint import mismatched_keys
from ..utils import norm_layer_from_cfg
from .utils import chosen_blocks, train_new_norms

# c4 lambda-layer counts of the paper's hybrids, by depth (not read in the paper:
# docs/paper_facts.md#lambdanetworks).
PAPER_C4_LAMBDA_LAYERS = {50: 1, 101: 3, 152: 6}
_CLASSIFIER_PREFIXES = ('fc.', 'head.')  # ImageNet heads: no counterpart in a backbone


def paper_hybrid_blocks(depth: int, stage_blocks: Sequence[int]) -> Tuple:
    """``lambda_blocks`` of the paper hybrid of ``depth``: see the module docstring."""
    if depth not in PAPER_C4_LAMBDA_LAYERS:
        raise ValueError(f'LambdaResNet: lambda_preset="paper_hybrid" is defined for depths '
                         f'{sorted(PAPER_C4_LAMBDA_LAYERS)}, got depth {depth}; give '
                         'lambda_stages/lambda_blocks explicitly')
    count, num_c4 = PAPER_C4_LAMBDA_LAYERS[depth], stage_blocks[2]
    c4 = tuple(round((i + 1) * num_c4 / count) - 1 for i in range(count))
    return (None, None, c4, None)


@register_model()
class LambdaResNet(ResNet):
    """ResNet (mmseg's, a superset of mmdet's) with lambda layers in chosen Bottleneck blocks.

    ``LambdaResNet(depth=101)`` is the paper's LambdaResNet-101 hybrid;
    ``LambdaResNet(depth=50, lambda_stages=(True, True, True, True))`` replaces every 3x3 conv.

    Args:
        lambda_stages (Sequence[bool], optional): One flag per stage: whether blocks of that stage
            get lambda layers. ``None`` uses ``lambda_preset``. Default: None.
        lambda_blocks (Sequence, optional): Per stage, ``None`` (every block of a chosen stage) or
            a tuple of block indices (negative ones count from the end). ``None`` as a whole
            means ``None`` for every stage. Default: None.
        lambda_cfg (dict, optional): LambdaLayer keyword arguments (``dim_k, heads, dim_u, r,
            bias``; channels and stride come from the block). Default:
            ``dict(dim_k=16, heads=4, dim_u=1, r=23)`` (paper).
        lambda_preset (str): Used when ``lambda_stages`` is None: ``'paper_hybrid'`` (depths
            50/101/152, see the module docstring) or ``'all'`` (every 3x3 conv).
            Default: ``'paper_hybrid'``.
        lambda_norm_eval (bool): Whether ``norm_eval=True`` also freezes the BN statistics inside
            the lambda layers. Default: False: an ImageNet ResNet checkpoint has no statistics for
            them, so they train with batch statistics.
        **kwargs: mmseg/mmdet ``ResNet`` arguments (``depth``, ``deep_stem``, ``dilations``,
            ``contract_dilation``, ``norm_cfg``, ``norm_eval``, ``init_cfg``, ...). Dilations do
            not apply to lambda layers: their scope is the ``r x r`` window.

    The lambda layers' BatchNorms follow ``norm_cfg`` (so SyncBN configs sync them too) but
    always learn (``requires_grad=True``): they start from scratch.

    With ``init_cfg=dict(type='Pretrained', checkpoint=...)`` an ImageNet ResNet checkpoint loads:
    every weight that still exists loads, the replaced convs (and a classifier head) are listed in
    one log message, and any other missing, unexpected or mis-shaped key is an error. With
    ``type='StrictPretrained'`` (a LambdaResNet checkpoint, e.g. of the ImageNet stage) every
    tensor, the lambda layers' included, must come from the checkpoint
    (:mod:`mmattn.models.pretrained`).
    """

    def __init__(self,
                 depth: int,
                 lambda_stages: Optional[Sequence[bool]] = None,
                 lambda_blocks: Optional[Sequence[Optional[Sequence[int]]]] = None,
                 lambda_cfg: Optional[Dict] = None,
                 lambda_preset: str = 'paper_hybrid',
                 lambda_norm_eval: bool = False,
                 **kwargs) -> None:
        super().__init__(depth=depth, **kwargs)
        if self.block is not Bottleneck:
            raise ValueError(f'LambdaResNet: lambda layers replace the 3x3 conv2 of Bottleneck '
                             f'blocks; depth {depth} uses {self.block.__name__} (use 50, 101 or '
                             '152)')
        lambda_stages, lambda_blocks = self._placement(depth, lambda_stages, lambda_blocks,
                                                       lambda_preset)
        lambda_cfg = dict(dim_k=16, heads=4, dim_u=1, r=23) if lambda_cfg is None else dict(
            lambda_cfg)
        for key in ('in_channels', 'out_channels', 'stride', 'norm_layer'):
            if key in lambda_cfg:
                raise ValueError(f'LambdaResNet: lambda_cfg must not set {key!r} (it comes from '
                                 f'the block / norm_cfg), got lambda_cfg={lambda_cfg}')
        self.lambda_norm_eval = lambda_norm_eval
        norm_layer = norm_layer_from_cfg(dict(self.norm_cfg, requires_grad=True))

        # 'layer3.5.conv2' -> stage index, for every replaced conv
        self.lambda_layer_names: Dict[str, int] = {}
        for stage, layer_name in enumerate(self.res_layers):
            if not lambda_stages[stage]:
                continue
            res_layer = getattr(self, layer_name)
            for index in chosen_blocks('LambdaResNet: lambda_blocks', layer_name, len(res_layer),
                                       lambda_blocks[stage]):
                block = res_layer[index]
                if block.with_dcn:
                    raise ValueError(f'LambdaResNet: {layer_name}.{index} has both a DCN conv2 '
                                     '(stage_with_dcn) and a lambda layer; choose one')
                block.conv2 = LambdaLayer(block.planes, block.planes, stride=block.conv2_stride,
                                          norm_layer=norm_layer, **lambda_cfg)
                self.lambda_layer_names[f'{layer_name}.{index}.conv2'] = stage
        if not self.lambda_layer_names:
            raise ValueError(f'LambdaResNet: no lambda layer was placed (lambda_stages='
                             f'{tuple(lambda_stages)}, lambda_blocks={lambda_blocks}); use ResNet')
        self._freeze_stages()  # the new layers of frozen stages freeze too

    def _placement(self, depth, lambda_stages, lambda_blocks, lambda_preset) -> Tuple:
        if lambda_stages is None:
            if lambda_blocks is not None:
                raise ValueError('LambdaResNet: lambda_blocks needs lambda_stages (one flag per '
                                 'stage); with lambda_stages=None the preset decides')
            if lambda_preset == 'all':
                return (True, ) * self.num_stages, (None, ) * self.num_stages
            if lambda_preset != 'paper_hybrid':
                raise ValueError(f'LambdaResNet: lambda_preset ({lambda_preset!r}) must be '
                                 "'paper_hybrid' or 'all'")
            if self.num_stages != 4:
                raise ValueError(f'LambdaResNet: the paper hybrid needs 4 stages, got '
                                 f'num_stages={self.num_stages}')
            return (False, False, True, True), paper_hybrid_blocks(depth, self.stage_blocks)
        if len(lambda_stages) != self.num_stages:
            raise ValueError(f'LambdaResNet: lambda_stages {tuple(lambda_stages)} needs one flag '
                             f'per stage ({self.num_stages} stages)')
        if lambda_blocks is None:
            lambda_blocks = (None, ) * self.num_stages
        if len(lambda_blocks) != self.num_stages:
            raise ValueError(f'LambdaResNet: lambda_blocks {tuple(lambda_blocks)} needs one entry '
                             f'(None or block indices) per stage ({self.num_stages} stages)')
        return tuple(lambda_stages), tuple(lambda_blocks)

    def lambda_layers(self) -> Dict[str, LambdaLayer]:
        """The lambda layers by module name (``'layer3.5.conv2'``), in forward order."""
        modules = dict(self.named_modules())
        return {name: modules[name] for name in self.lambda_layer_names}

    def train(self, mode: bool = True) -> 'LambdaResNet':
        super().train(mode)  # applies frozen_stages and norm_eval
        if mode and self.norm_eval and not self.lambda_norm_eval:
            stages = {name: index + 1 for name, index in self.lambda_layer_names.items()}
            train_new_norms(self.lambda_layers(), stages, self.frozen_stages)
        return self

    def init_weights(self) -> None:
        """ResNet's init (or an ImageNet checkpoint); lambda layers keep their own init."""
        init_cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [cfg for cfg in init_cfgs
                      if cfg and cfg.get('type') in PRETRAINED_INIT_TYPES]
        if not pretrained:
            super().init_weights()  # ends with each LambdaLayer.init_weights(): its own init
            return
        others = [cfg for cfg in init_cfgs
                  if cfg and cfg.get('type') not in PRETRAINED_INIT_TYPES]
        if others:
            initialize(self, others)
        if pretrained[0]['type'] == 'StrictPretrained':  # after the other inits: it wins
            initialize(self, pretrained[0])
        else:
            self.load_resnet_checkpoint(pretrained[0]['checkpoint'], pretrained[0].get('prefix'),
                                        pretrained[0].get('map_location', 'cpu'))
        self._is_init = True

    def load_resnet_checkpoint(self, checkpoint: str, prefix: Optional[str] = None,
                               map_location: str = 'cpu') -> None:
        """Load a ResNet (or LambdaResNet) checkpoint; see the class docstring for the rules.

        Raises:
            RuntimeError: a key other than a replaced conv, a classifier head or a BN batch
                counter is missing or unexpected, or a shape differs.
        """
        if prefix is None:
            loaded = _load_checkpoint(checkpoint, map_location=map_location, logger='current')
            state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
        else:
            state = _load_checkpoint_with_prefix(prefix, checkpoint, map_location=map_location)
        state = {key[len('module.'):] if key.startswith('module.') else key: value
                 for key, value in state.items()}
        own = self.state_dict()

        lambda_prefixes = tuple(f'{name}.' for name in self.lambda_layer_names)
        replaced = sorted(f'{name}.weight' for name in self.lambda_layer_names
                          if f'{name}.weight' in state)
        classifier = sorted(key for key in state if key.startswith(_CLASSIFIER_PREFIXES)
                            and key not in own)
        fresh, partial = [], []
        for name in self.lambda_layer_names:
            keys = [key for key in own if key.startswith(f'{name}.')]
            present = [key for key in keys if key in state]
            if not present:
                fresh.append(name)
            elif len(present) != len(keys):
                partial.append(name)
        problems = mismatched_keys(
            state, own,
            may_miss=lambda key: key.startswith(lambda_prefixes)
            or key.endswith('num_batches_tracked'),
            may_add=lambda key: key in replaced or key in classifier)
        if partial:
            problems.append(f'lambda layers only partly in the checkpoint ({len(partial)}): '
                            f'{", ".join(partial)}')
        if problems:
            raise RuntimeError(f'LambdaResNet: checkpoint {checkpoint} does not fit this '
                               f'backbone ({"; ".join(problems)})')

        self.load_state_dict({key: value for key, value in state.items() if key in own},
                             strict=False)
        message = f'LambdaResNet: loaded {checkpoint}'
        if fresh:
            message += (f'; {len(fresh)} 3x3 convs replaced by lambda layers (initialised from '
                        f'scratch, checkpoint weights not used): {", ".join(replaced or fresh)}')
        if len(fresh) < len(self.lambda_layer_names):
            message += f'; {len(self.lambda_layer_names) - len(fresh)} lambda layers loaded'
        if classifier:
            message += f'; classifier weights ignored: {", ".join(classifier)}'
        print_log(message, logger='current', level=logging.INFO)
