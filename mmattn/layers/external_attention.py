"""External Attention (EA) and multi-head External Attention, plain PyTorch.

Paper: Guo, Liu, Mu, Hu, "Beyond Self-attention: External Attention using Two Linear Layers for
Visual Tasks", arXiv:2105.02358 (EANet).

EA replaces the N x N self-attention map by the affinity between the N pixels and S learnable
memory units shared by the whole data set: ``EA(F) = Norm(F M_k^T) M_v`` with two bias-free linear
maps ``M_k`` (S x d) and ``M_v`` (d x S). Cost is O(d S N): linear in the number of pixels.

The module follows the official segmentation block::

    x -> 1x1 conv (bias) -> M_k -> softmax over the N pixels -> divide by the sum over the
      S memory units (+1e-9) -> M_v -> 1x1 conv (no bias) + norm -> + x -> ReLU

What differs from the official code, and why:

- ``M_v`` starts as ``M_k`` transposed (as the official code intends) but the two stay independent
  parameters (the paper describes two memories).
- The input conv keeps the official bias although it cannot change the output: through ``M_k``
  it adds one constant per memory unit to all N logits, which the softmax over the pixels
  removes (its gradient is zero). It stays so that official checkpoints load key for key.
- The double normalisation always runs in float32: under fp16 autocast the per-pixel sum over
  the S units of ``softmax``-ed values of order 1/N underflows to 0 for large N and 0/0 gives NaN.
- The norm is configurable (a ``norm_layer`` factory, as every mmattn operator takes; the
  OpenMMLab adapters build it from an mmcv ``norm_cfg``) instead of a hard-coded BatchNorm, so
  GN / SyncBN models need no fork.
- :class:`MultiHeadExternalAttention` splits the segmentation block into heads that share the
  memories; :class:`ExternalAttention` is its one-head case. It is not the authors' multi-head
  module (``multi_head_attention_torch.py``: 4x channel widening, biased memories, no residual, BN
  or ReLU); docs/paper_facts.md#the-authors-multi-head-module compares the two.
- ``switch_to_deploy()`` (ours, exact in eval mode): the 1x1 input conv is used only by ``M_k``, and
  ``M_v`` feeds the output conv directly, so both pairs of linear maps multiply out into one conv
  each (C -> heads*S and heads*S -> C), with the BatchNorm folded in. At the paper's setting
  (C=512, S=64) this cuts the MACs from ~9.7 G to ~1.1 G.
"""
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .reparam import Reparameterizable, bn_scale_shift, foldable_norm

__all__ = ['ExternalAttention', 'MultiHeadExternalAttention']

NormFactory = Callable[[int], nn.Module]

# Added to the per-pixel sum over the memory units before dividing [paper, official code].
_L1_EPS = 1e-9


class MultiHeadExternalAttention(Reparameterizable):
    """Multi-head External Attention on a (B, C, H, W) feature map, with residual and ReLU.

    The input conv output is split into ``num_heads`` groups of ``C / num_heads`` channels; every
    head is matched against the same ``num_memory`` memory units (the memories are shared by the
    heads, as in the paper's multi-head EA), normalised (softmax over pixels, then L1 over memory
    units), read
    back through the shared value memory, and the heads are concatenated before the output conv.

    Args:
        channels (int): input and output channels C.
        num_heads (int): number of heads; must divide ``channels``. Default: 8.
        num_memory (int): memory units S. Default: 64.
        norm_layer (callable): ``norm_layer(channels)`` builds the norm after the output conv
            (``nn.BatchNorm2d``, ``functools.partial(nn.GroupNorm, 32)``, ``nn.Identity`` for
            none). OpenMMLab adapters build it from an mmcv ``norm_cfg``. Default:
            ``nn.BatchNorm2d``.
        attn_drop (float): dropout on the normalised attention map. Default: 0.
        residual (bool): add the input to the output. Default: True.
        with_act (bool): ReLU at the end. Default: True.
        zero_init_norm (bool): start the output norm's weight at 0, so that a freshly inserted
            module is the identity followed by ReLU (useful inside a pretrained backbone).
            Default: False (the official init, weight 1).
        deploy (bool): build the deploy form (two fused convs, a BatchNorm folded in) directly,
            to load a checkpoint written after :meth:`switch_to_deploy`. Default: False.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int = 8,
                 num_memory: int = 64,
                 norm_layer: NormFactory = nn.BatchNorm2d,
                 attn_drop: float = 0.0,
                 residual: bool = True,
                 with_act: bool = True,
                 zero_init_norm: bool = False,
                 deploy: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (('channels', channels), ('num_heads', num_heads),
                           ('num_memory', num_memory)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'{name}: {arg} must be a positive int, got {value!r}')
        if channels % num_heads:
            raise ValueError(f'{name}: channels ({channels}) must be divisible by num_heads '
                             f'({num_heads})')
        if not 0.0 <= attn_drop < 1.0:
            raise ValueError(f'{name}: attn_drop must be in [0, 1), got {attn_drop}')
        if not callable(norm_layer):
            raise TypeError(f'{name}: norm_layer must be a callable channels -> module (e.g. '
                            f'nn.BatchNorm2d, or nn.Identity for no norm), got {norm_layer!r}; '
                            'in OpenMMLab configs give norm_cfg to EAHead / '
                            'ExternalAttentionPlugin instead')
        self.channels = channels
        self.num_heads = num_heads
        self.num_memory = num_memory
        self.head_channels = channels // num_heads
        self.residual = residual
        self.with_act = with_act
        self.zero_init_norm = zero_init_norm
        self.deploy = deploy

        self.attn_drop = nn.Dropout(attn_drop) if attn_drop > 0 else nn.Identity()
        self.out_norm = norm_layer(channels)
        if deploy:
            self._build_deploy_form()
            return
        self.in_proj = nn.Conv2d(channels, channels, 1, bias=True)
        # Shared memories, as 1x1 Conv1d weights: keys (S, d, 1), values (d, S, 1).
        self.memory_keys = nn.Conv1d(self.head_channels, num_memory, 1, bias=False)
        self.memory_values = nn.Conv1d(num_memory, self.head_channels, 1, bias=False)
        self.out_proj = nn.Conv2d(channels, channels, 1, bias=False)
        self.init_weights()

    def _build_deploy_form(self) -> None:
        """The deploy-form layers (uninitialised): C -> heads*S keys, heads*S -> C values.

        A foldable output norm (BatchNorm) lives in ``fused_values``; any other stays.
        """
        heads_memory = self.num_heads * self.num_memory
        self.fused_keys = nn.Conv2d(self.channels, heads_memory, 1, bias=True)
        self.fused_values = nn.Conv1d(heads_memory, self.channels, 1, bias=True)
        if foldable_norm(self.out_norm):
            self.out_norm = nn.Identity()

    @torch.no_grad()
    def init_weights(self) -> None:
        """The official init as it takes effect: He-normal (fan-out) 1x1 convs, zero biases,
        memories ``M_k ~ N(0, 2 / d)`` with ``M_v = M_k^T``, norm weight 1.

        The memories' std is that of the *value* memory's fan-out (``d`` channels per head): the
        official code makes ``linear_1.weight`` a view of ``linear_0.weight`` and then
        initialises every Conv1d with ``N(0, 2 / out_channels)``, so ``linear_1``'s init (fan-out
        d) overwrites ``linear_0``'s (fan-out S) in their shared storage.

        The deploy form has nothing to initialise: its weights come from a converted
        checkpoint, so this is a no-op there.
        """
        if self.deploy:
            return
        for conv in (self.in_proj, self.out_proj):
            nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
        nn.init.normal_(self.memory_keys.weight, 0.0, math.sqrt(2.0 / self.head_channels))
        nn.init.zeros_(self.in_proj.bias)
        self.memory_values.weight.copy_(self.memory_keys.weight.transpose(0, 1))
        if getattr(self.out_norm, 'weight', None) is not None:
            nn.init.constant_(self.out_norm.weight, 0.0 if self.zero_init_norm else 1.0)
            nn.init.zeros_(self.out_norm.bias)

    def _memory_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Affinity of every pixel with every memory unit: (B, C, H, W) -> (B, heads, S, N)."""
        batch, _, height, width = x.shape
        if self.deploy:
            logits = self.fused_keys(x)  # B, heads*S, H, W
        else:
            feats = self.in_proj(x).reshape(batch * self.num_heads, self.head_channels,
                                            height * width)  # B*heads, d, N
            logits = self.memory_keys(feats)  # B*heads, S, N
        return logits.reshape(batch, self.num_heads, self.num_memory, height * width)

    @staticmethod
    def _double_normalise(logits: torch.Tensor) -> torch.Tensor:
        """Softmax over the pixels (last axis), then L1 over the memory units (axis -2).

        Runs in at least float32 (float64 stays float64).
        """
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        attn = logits.softmax(dim=-1)
        return attn / (attn.sum(dim=-2, keepdim=True) + _L1_EPS)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised attention map, for visualisation and tests.

        Args:
            x (Tensor): (B, C, H, W) input of the module.

        Returns:
            Tensor: map of shape (B, num_heads, num_memory, H*W), float32 for half-precision
            inputs or under autocast; it sums to 1 over the
            memory units for every head and pixel (up to the 1e-9 guard).
        """
        self._check_input(x)
        return self._double_normalise(self._memory_logits(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        batch, _, height, width = x.shape
        attn = self._double_normalise(self._memory_logits(x))
        # Back to the input's dtype for the value memory (a half-precision model). Under
        # autocast the value convolution casts to the autocast dtype itself, and a float64
        # input stays float64 (autocast leaves float64 alone).
        attn = self.attn_drop(attn).to(x.dtype)  # B, heads, S, N
        # Explicit sizes, no -1: the reshapes stay defined for an empty batch.
        if self.deploy:
            out = self.fused_values(
                attn.reshape(batch, self.num_heads * self.num_memory, height * width))  # B, C, N
            out = self.out_norm(out.reshape(batch, self.channels, height, width))
        else:
            out = self.memory_values(
                attn.reshape(batch * self.num_heads, self.num_memory,
                             height * width))  # B*heads, d, N
            out = out.reshape(batch, self.channels, height, width)  # heads concatenated
            out = self.out_norm(self.out_proj(out))
        if self.residual:
            out = out + x
        return F.relu(out) if self.with_act else out

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f'{type(self).__name__}: expected a (B, {self.channels}, H, W) '
                             f'input, got shape {tuple(x.shape)}')

    def _convert_to_deploy(self) -> None:
        """Multiply out the linear maps into two convs (exact in eval mode).

        ``in_proj`` feeds only ``M_k`` and ``M_v`` feeds only ``out_proj``, so
        ``M_k(in_proj(x))`` is one 1x1 conv C -> heads*S (block rows per head) and
        ``out_proj(M_v(a))`` one 1x1 conv heads*S -> C. A BatchNorm after ``out_proj`` is folded
        in; any other norm (GN, ...) cannot be folded and stays after the fused conv.
        """
        heads, head_ch = self.num_heads, self.head_channels
        keys = self.memory_keys.weight[:, :, 0]  # S, d
        values = self.memory_values.weight[:, :, 0]  # d, S
        in_weight = self.in_proj.weight[:, :, 0, 0].reshape(heads, head_ch, self.channels)
        in_bias = self.in_proj.bias.reshape(heads, head_ch)
        key_weight = torch.einsum('sd,hdc->hsc', keys, in_weight)  # heads, S, C
        key_bias = torch.einsum('sd,hd->hs', keys, in_bias)  # heads, S
        out_weight = self.out_proj.weight[:, :, 0, 0].reshape(self.channels, heads, head_ch)
        value_weight = torch.einsum('ohd,ds->ohs', out_weight, values)  # C, heads, S
        value_bias = value_weight.new_zeros(self.channels)
        if foldable_norm(self.out_norm):
            scale, value_bias = bn_scale_shift(self.out_norm)
            value_weight = value_weight * scale[:, None, None]

        self._build_deploy_form()
        self.to(keys)  # the new convs on the device / dtype of the trained weights
        self.fused_keys.weight.copy_(key_weight.reshape(-1, self.channels, 1, 1))
        self.fused_keys.bias.copy_(key_bias.reshape(-1))
        self.fused_values.weight.copy_(value_weight.reshape(self.channels, -1, 1))
        self.fused_values.bias.copy_(value_bias)
        for name in ('in_proj', 'memory_keys', 'memory_values', 'out_proj'):
            delattr(self, name)

    def extra_repr(self) -> str:
        return (f'channels={self.channels}, num_heads={self.num_heads}, '
                f'num_memory={self.num_memory}, residual={self.residual}, '
                f'deploy={self.deploy}')


class ExternalAttention(MultiHeadExternalAttention):
    """External Attention block of EANet's segmentation head (one head, arXiv:2105.02358).

    ``x -> conv1x1 -> M_k -> softmax over pixels -> L1 over memory units -> M_v -> conv1x1 + norm
    -> + x -> ReLU``, (B, C, H, W) -> (B, C, H, W), for any H x W, cost linear in H*W.

    Args:
        channels (int): input and output channels C.
        num_memory (int): memory units S. Default: 64 (paper).
        norm_layer (callable): norm factory for the output conv. Default: ``nn.BatchNorm2d``.
        **kwargs: ``attn_drop``, ``residual``, ``with_act``, ``zero_init_norm``, ``deploy`` of
            :class:`MultiHeadExternalAttention`.
    """

    def __init__(self,
                 channels: int,
                 num_memory: int = 64,
                 norm_layer: NormFactory = nn.BatchNorm2d,
                 **kwargs) -> None:
        if 'num_heads' in kwargs:
            raise TypeError('ExternalAttention has one head; use MultiHeadExternalAttention '
                            f"for num_heads={kwargs['num_heads']}")
        super().__init__(channels, num_heads=1, num_memory=num_memory,
                         norm_layer=norm_layer, **kwargs)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised map (B, num_memory, H*W), summing to 1 over the memory units."""
        return super().attention_map(x)[:, 0]
