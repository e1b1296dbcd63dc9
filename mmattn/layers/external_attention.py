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
- The double normalisation always runs in float32: under fp16 autocast the per-pixel sum over
  the S units of ``softmax``-ed values of order 1/N underflows to 0 for large N and 0/0 gives NaN.
- The norm is configurable (mmcv-style dict or any torch factory) instead of a hard-coded
  BatchNorm, so GN / SyncBN models need no fork.
- :class:`MultiHeadExternalAttention` gives the paper's multi-head form (heads share the memories)
  for feature maps; :class:`ExternalAttention` is its one-head case.
- ``switch_to_deploy()`` (ours, exact in eval mode): the 1x1 input conv is used only by ``M_k``, and
  ``M_v`` feeds the output conv directly, so both pairs of linear maps multiply out into one conv
  each (C -> heads*S and heads*S -> C), with the BatchNorm folded in. At the paper's setting
  (C=512, S=64) this cuts the MACs from ~9.7 G to ~1.1 G.
"""
from typing import Callable, Dict, Type, Union

import torch
import torch.nn.functional as F
from torch import nn

from mmattn.utils.deploy import bn_scale_shift

__all__ = ['ExternalAttention', 'MultiHeadExternalAttention', 'build_norm']

NormSpec = Union[None, Dict, Type[nn.Module], Callable[[int], nn.Module]]

# Added to the per-pixel sum over the memory units before dividing [paper, official code].
_L1_EPS = 1e-9


def build_norm(norm: NormSpec, num_channels: int) -> nn.Module:
    """Build a 2d normalisation layer for ``num_channels`` channels without importing mmcv.

    Args:
        norm (dict | type | callable | None): one of
            - an mmcv-style dict, ``type`` one of ``'BN'``, ``'BN2d'``, ``'SyncBN'``, ``'GN'``,
              ``'IN'``, ``'IN2d'``, ``'LN'``, plus the layer's keyword arguments;
              ``requires_grad=False`` freezes the affine parameters as mmcv does,
              ``GN`` needs ``num_groups``;
            - a ``torch.nn.Module`` class or any callable taking the channel count
              (``nn.BatchNorm2d``, ``functools.partial(nn.GroupNorm, 32)``);
            - ``None``: identity.
        num_channels (int): channels of the normalised tensor.

    Returns:
        nn.Module: the norm layer.
    """
    if norm is None:
        return nn.Identity()
    if not isinstance(norm, dict):
        if not callable(norm):
            raise TypeError(f'build_norm: norm must be a dict, a callable or None, got '
                            f'{type(norm).__name__}')
        return norm(num_channels)
    if 'type' not in norm:
        raise KeyError(f"build_norm: norm dict {norm} has no 'type' key (e.g. dict(type='BN'))")
    kwargs = dict(norm)
    norm_type = kwargs.pop('type')
    requires_grad = kwargs.pop('requires_grad', True)
    if norm_type in ('BN', 'BN2d'):
        layer = nn.BatchNorm2d(num_channels, **kwargs)
    elif norm_type == 'SyncBN':
        layer = nn.SyncBatchNorm(num_channels, **kwargs)
    elif norm_type == 'GN':
        if 'num_groups' not in kwargs:
            raise KeyError(f"build_norm: GN needs num_groups, got {norm} "
                           "(e.g. dict(type='GN', num_groups=32))")
        num_groups = kwargs.pop('num_groups')
        if num_channels % num_groups:
            raise ValueError(f'build_norm: GN channels ({num_channels}) must be divisible by '
                             f'num_groups ({num_groups})')
        layer = nn.GroupNorm(num_groups, num_channels, **kwargs)
    elif norm_type in ('IN', 'IN2d'):
        layer = nn.InstanceNorm2d(num_channels, **kwargs)
    elif norm_type == 'LN':
        # LayerNorm over channels of a (B, C, H, W) map is GroupNorm with one group.
        layer = nn.GroupNorm(1, num_channels, **kwargs)
    else:
        raise KeyError(f"build_norm: unknown norm type '{norm_type}'; expected one of "
                       "'BN', 'BN2d', 'SyncBN', 'GN', 'IN', 'IN2d', 'LN'")
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer


class MultiHeadExternalAttention(nn.Module):
    """Multi-head External Attention on a (B, C, H, W) feature map, with residual and ReLU.

    The input conv output is split into ``num_heads`` groups of ``C / num_heads`` channels; every
    head is matched against the same ``num_memory`` memory units (the memories are shared by the
    heads, paper Sec. 3.3), normalised (softmax over pixels, then L1 over memory units), read
    back through the shared value memory, and the heads are concatenated before the output conv.

    Args:
        channels (int): input and output channels C.
        num_heads (int): number of heads; must divide ``channels``. Default: 8.
        num_memory (int): memory units S. Default: 64.
        norm_cfg (dict | type | callable | None): norm after the output conv, see
            :func:`build_norm`. Default: ``dict(type='BN')``.
        attn_drop (float): dropout on the normalised attention map. Default: 0.
        residual (bool): add the input to the output. Default: True.
        with_act (bool): ReLU at the end. Default: True.
        zero_init_norm (bool): start the output norm's weight at 0, so that a freshly inserted
            module is the identity followed by ReLU (useful inside a pretrained backbone).
            Default: False (the official init, weight 1).
    """

    def __init__(self,
                 channels: int,
                 num_heads: int = 8,
                 num_memory: int = 64,
                 norm_cfg: NormSpec = dict(type='BN'),
                 attn_drop: float = 0.0,
                 residual: bool = True,
                 with_act: bool = True,
                 zero_init_norm: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (('channels', channels), ('num_heads', num_heads),
                           ('num_memory', num_memory)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name}: {arg} must be a positive int, got {value!r}')
        if channels % num_heads:
            raise ValueError(f'{name}: channels ({channels}) must be divisible by num_heads '
                             f'({num_heads})')
        if not 0.0 <= attn_drop < 1.0:
            raise ValueError(f'{name}: attn_drop must be in [0, 1), got {attn_drop}')
        self.channels = channels
        self.num_heads = num_heads
        self.num_memory = num_memory
        self.head_channels = channels // num_heads
        self.residual = residual
        self.with_act = with_act
        self.zero_init_norm = zero_init_norm
        self.deploy = False

        self.in_proj = nn.Conv2d(channels, channels, 1, bias=True)
        # Shared memories, as 1x1 Conv1d weights: keys (S, d, 1), values (d, S, 1).
        self.memory_keys = nn.Conv1d(self.head_channels, num_memory, 1, bias=False)
        self.memory_values = nn.Conv1d(num_memory, self.head_channels, 1, bias=False)
        self.attn_drop = nn.Dropout(attn_drop) if attn_drop > 0 else nn.Identity()
        self.out_proj = nn.Conv2d(channels, channels, 1, bias=False)
        self.out_norm = build_norm(norm_cfg, channels)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official init: He-normal (fan-out) convs, zero biases, M_v = M_k^T, norm weight 1."""
        if self.deploy:
            raise RuntimeError(f'{type(self).__name__}.init_weights(): the module is in its '
                               'deploy form; initialise the training form and then convert it')
        for conv in (self.in_proj, self.out_proj, self.memory_keys):
            nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
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
        # Back to the compute dtype (fp16/bf16 under autocast) for the value memory.
        attn = self.attn_drop(attn).to(self._compute_dtype(x))  # B, heads, S, N
        if self.deploy:
            out = self.fused_values(attn.reshape(batch, -1, height * width))  # B, C, N
            out = self.out_norm(out.reshape(batch, self.channels, height, width))
        else:
            out = self.memory_values(
                attn.reshape(batch * self.num_heads, self.num_memory, -1))  # B*heads, d, N
            out = out.reshape(batch, self.channels, height, width)  # heads concatenated
            out = self.out_norm(self.out_proj(out))
        if self.residual:
            out = out + x
        return F.relu(out) if self.with_act else out

    @staticmethod
    def _compute_dtype(x: torch.Tensor) -> torch.dtype:
        if torch.is_autocast_enabled(x.device.type):
            return torch.get_autocast_dtype(x.device.type)
        return x.dtype

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f'{type(self).__name__}: expected a (B, {self.channels}, H, W) '
                             f'input, got shape {tuple(x.shape)}')

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Multiply out the linear maps into two convs (exact in eval mode); idempotent.

        ``in_proj`` feeds only ``M_k`` and ``M_v`` feeds only ``out_proj``, so
        ``M_k(in_proj(x))`` is one 1x1 conv C -> heads*S (block rows per head) and
        ``out_proj(M_v(a))`` one 1x1 conv heads*S -> C. A BatchNorm after ``out_proj`` is folded
        in; any other norm (GN, ...) cannot be folded and stays after the fused conv.
        """
        if self.deploy:
            return
        heads, head_ch, mem = self.num_heads, self.head_channels, self.num_memory
        keys = self.memory_keys.weight[:, :, 0]  # S, d
        values = self.memory_values.weight[:, :, 0]  # d, S
        in_weight = self.in_proj.weight[:, :, 0, 0].reshape(heads, head_ch, self.channels)
        in_bias = self.in_proj.bias.reshape(heads, head_ch)
        key_weight = torch.einsum('sd,hdc->hsc', keys, in_weight)  # heads, S, C
        key_bias = torch.einsum('sd,hd->hs', keys, in_bias)  # heads, S
        out_weight = self.out_proj.weight[:, :, 0, 0].reshape(self.channels, heads, head_ch)
        value_weight = torch.einsum('ohd,ds->ohs', out_weight, values)  # C, heads, S
        value_bias = torch.zeros(self.channels, dtype=value_weight.dtype,
                                 device=value_weight.device)
        if isinstance(self.out_norm, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            scale, shift = bn_scale_shift(self.out_norm)
            value_weight = value_weight * scale[:, None, None]
            value_bias = shift
            self.out_norm = nn.Identity()

        self.fused_keys = nn.Conv2d(self.channels, heads * mem, 1, bias=True).to(keys)
        self.fused_keys.weight.copy_(key_weight.reshape(heads * mem, self.channels, 1, 1))
        self.fused_keys.bias.copy_(key_bias.reshape(-1))
        self.fused_values = nn.Conv1d(heads * mem, self.channels, 1, bias=True).to(keys)
        self.fused_values.weight.copy_(value_weight.reshape(self.channels, heads * mem, 1))
        self.fused_values.bias.copy_(value_bias)
        for name in ('in_proj', 'memory_keys', 'memory_values', 'out_proj'):
            delattr(self, name)
        self.deploy = True

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
        norm_cfg (dict | type | callable | None): norm after the output conv, see
            :func:`build_norm`. Default: ``dict(type='BN')``.
        **kwargs: ``attn_drop``, ``residual``, ``with_act``, ``zero_init_norm`` of
            :class:`MultiHeadExternalAttention`.
    """

    def __init__(self,
                 channels: int,
                 num_memory: int = 64,
                 norm_cfg: NormSpec = dict(type='BN'),
                 **kwargs) -> None:
        if 'num_heads' in kwargs:
            raise TypeError('ExternalAttention has one head; use MultiHeadExternalAttention '
                            f"for num_heads={kwargs['num_heads']}")
        super().__init__(channels, num_heads=1, num_memory=num_memory, norm_cfg=norm_cfg,
                         **kwargs)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised map (B, num_memory, H*W), summing to 1 over the memory units."""
        return super().attention_map(x)[:, 0]
