"""LeViT building blocks for dense prediction, plain PyTorch.

Paper: Graham, El-Nouby, Touvron, Stock, Joulin, Jegou, Douze, "LeViT: a Vision Transformer in
ConvNet's Clothing for Faster Inference", arXiv:2104.01136 (ICCV 2021).

LeViT is a stride-16 convolutional stem (4 x [3x3 conv stride 2 + BN], Hardswish between) followed
by stages of residual attention and residual MLP blocks in which every linear map is a Linear + BN
pair; attention adds a learned bias per head and per absolute offset ``(|dy|, |dx|)`` between query
and key positions instead of positional embeddings; a *shrink* attention between stages takes its
queries from the stride-2 subsampled grid (value dim 4D, ``C / D`` heads, no residual).

What differs from the paper and the official code, and why:

- Any input size. The official, timm and mmpretrain modules bake a square 14 x 14 grid into index
  buffers and reshapes. Here every block receives the token grid ``(H, W)`` with its tokens, the
  subsampled grid is ``(ceil(H / 2), ceil(W / 2))`` (what ``x[::2, ::2]`` gives), and the bias
  table is *stored* at the pretraining grid (``R x R``, 14 / 7 / 4 for 224 inputs, the same
  ``heads x R^2`` layout with index ``|dy| * R + |dx|`` as the official code, so checkpoints load
  unchanged) and *resized* to the offsets an input needs (``H_k x W_k`` offsets for a key grid of
  ``H_k x W_k``) by interpolation on the per-head offset grid (bicubic by default, as is usual
  for relative-position tables; the paper is silent). At the pretraining grid the resize is the
  identity.
- Bias cache. In eval mode without autograd the gathered ``(heads, N_q, N_k)`` bias is cached
  per (device, grid). A cache entry also remembers the version counter and storage of the
  table, so an in-place edit of ``attention_biases`` (``load_state_dict``, ``param.add_()``)
  is never served stale; ``train()`` / ``eval()``, ``.to()`` and ``load_state_dict`` clear the
  cache as well. (The official / mmpretrain ``self.ab`` cache goes stale after
  ``load_state_dict`` in eval mode.)
- Deploy form: ``switch_to_deploy()`` folds each Linear/Conv + BN pair into one layer with
  :mod:`mmattn.layers.reparam`; a norm that cannot be folded (GroupNorm, BN without running
  statistics) raises instead of being silently replaced. Every block takes ``deploy=True`` to
  build the folded form directly (mmpretrain's contract).
- Feature maps for necks: :class:`LeViTStem` returns its stride-2/4/8 maps (after Hardswish)
  besides the stride-16 tokens' map.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .reparam import Reparameterizable, fuse_conv_bn, fuse_linear_bn

__all__ = [
    'ConvBN', 'LinearBN', 'DropPath', 'LeViTStem', 'LeViTAttention', 'LeViTShrinkAttention',
    'LeViTMlp', 'LeViTBlock', 'LeViTShrinkBlock', 'offset_index', 'resize_bias_table'
]

NormFactory = Callable[[int], nn.Module]
Grid = Tuple[int, int]

_INTERPOLATION_MODES = ('bicubic', 'bilinear', 'nearest')


def _pair(value: Union[int, Sequence[int]]) -> Grid:
    if isinstance(value, int):
        return value, value
    height, width = value
    return int(height), int(width)


def _init_norm(norm: nn.Module, weight: float) -> None:
    if getattr(norm, 'weight', None) is not None:
        nn.init.constant_(norm.weight, weight)
    if getattr(norm, 'bias', None) is not None:
        nn.init.zeros_(norm.bias)


class _FoldablePair(Reparameterizable):
    """A layer followed by a norm that folds into it; subclasses name the layer attribute
    (``conv`` / ``linear``, kept as checkpoint keys) and the folding function. In the deploy
    form the layer has a bias and ``bn`` is None."""

    _layer: str  # attribute name of the layer
    _fold: Callable[[nn.Module, nn.Module], nn.Module]  # (layer, norm) -> fused layer

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        """A new layer equal to this pair in eval mode (raises if the norm won't fold)."""
        layer = getattr(self, self._layer)
        return layer if self.bn is None else self._fold(layer, self.bn)

    def _convert_to_deploy(self) -> None:
        # fuse() raises TypeError for a norm that cannot fold before anything is replaced
        setattr(self, self._layer, self.fuse())
        self.bn = None


class ConvBN(_FoldablePair):
    """``Conv2d`` (no bias) followed by a norm, foldable into one ``Conv2d``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): kernel size. Defaults to 1.
        stride (int): stride. Defaults to 1.
        padding (int): zero padding. Defaults to 0.
        bn_weight_init (float): initial norm weight (0 on residual branches [paper]).
            Defaults to 1.
        norm_layer (callable): ``norm_layer(out_channels)`` builds the norm, which sees
            ``(B, C, H, W)`` tensors. Defaults to ``nn.BatchNorm2d``.
        deploy (bool): build the folded form (a conv with bias, no norm). Defaults to False.
    """

    _layer = 'conv'
    _fold = staticmethod(fuse_conv_bn)

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 bn_weight_init: float = 1.,
                 norm_layer: NormFactory = nn.BatchNorm2d,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              bias=deploy)
        self.bn: Optional[nn.Module] = None if deploy else norm_layer(out_channels)
        _init_norm(self.bn, bn_weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x if self.bn is None else self.bn(x)


class LinearBN(_FoldablePair):
    """``Linear`` (no bias) on tokens ``(..., C)`` followed by a norm over the features.

    Args:
        in_features (int): input features.
        out_features (int): output features.
        bn_weight_init (float): initial norm weight. Defaults to 1.
        norm_layer (callable): ``norm_layer(out_features)`` builds the norm, which sees the
            tokens flattened to ``(M, C)``. Defaults to ``nn.BatchNorm1d``.
        deploy (bool): build the folded form (a linear with bias, no norm). Defaults to False.
    """

    _layer = 'linear'
    _fold = staticmethod(fuse_linear_bn)

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bn_weight_init: float = 1.,
                 norm_layer: NormFactory = nn.BatchNorm1d,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.linear = nn.Linear(in_features, out_features, bias=deploy)
        self.bn: Optional[nn.Module] = None if deploy else norm_layer(out_features)
        _init_norm(self.bn, bn_weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        if self.bn is None:
            return x
        return self.bn(x.flatten(0, -2)).view_as(x)  # M, C -> ..., C


class DropPath(nn.Module):
    """Stochastic depth per sample (drops the whole residual branch of a sample).

    Args:
        drop_prob (float): probability of dropping the branch in training. Defaults to 0.
    """

    def __init__(self, drop_prob: float = 0.) -> None:
        super().__init__()
        if not 0. <= drop_prob < 1.:
            raise ValueError(f'DropPath: drop_prob ({drop_prob}) must be in [0, 1)')
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.:
            return x
        keep = 1. - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class LeViTStem(nn.Module):
    """Four 3x3 stride-2 Conv + BN pairs, Hardswish between them: 3 -> C/8 -> C/4 -> C/2 -> C.

    Args:
        in_channels (int): image channels. Defaults to 3.
        embed_dim (int): output channels C (multiple of 8). Defaults to 256.
        act_layer (type): activation. Defaults to ``nn.Hardswish``.
        norm_layer (callable): 2d norm factory. Defaults to ``nn.BatchNorm2d``.
        deploy (bool): build the folded Conv+BN pairs. Defaults to False.
    """

    def __init__(self,
                 in_channels: int = 3,
                 embed_dim: int = 256,
                 act_layer: Callable[[], nn.Module] = nn.Hardswish,
                 norm_layer: NormFactory = nn.BatchNorm2d,
                 deploy: bool = False) -> None:
        super().__init__()
        if embed_dim % 8 != 0:
            raise ValueError(f'LeViTStem: embed_dim ({embed_dim}) must be divisible by 8')
        channels = [in_channels, embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
        self.out_channels = channels[1:]
        for i in range(4):
            self.add_module(f'conv{i + 1}',
                            ConvBN(channels[i], channels[i + 1], 3, 2, 1, norm_layer=norm_layer,
                                   deploy=deploy))
            if i < 3:
                self.add_module(f'act{i + 1}', act_layer())

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the maps at strides 2, 4, 8 (after Hardswish) and 16 (after the last BN)."""
        x = self.act1(self.conv1(x))  # B, C/8, H/2, W/2
        s4 = self.act2(self.conv2(x))  # B, C/4, H/4, W/4
        s8 = self.act3(self.conv3(s4))  # B, C/2, H/8, W/8
        return [x, s4, s8, self.conv4(s8)]


def offset_index(query_hw: Grid, key_hw: Grid, stride: int = 1,
                 device: Optional[torch.device] = None) -> torch.Tensor:
    """Index of the absolute offset between every query and key, into a ``H_k x W_k`` table.

    Query ``(i, j)`` sits at key position ``(stride * i, stride * j)``; the offset to key
    ``(y, x)`` is ``(|stride * i - y|, |stride * j - x|)`` and its index ``dy * W_k + dx`` (the
    official ``|dy| * R + |dx|`` layout at a square grid).

    Returns:
        LongTensor: ``(N_q, N_k)`` with ``N_q = H_q * W_q`` and ``N_k = H_k * W_k`` (row-major).
    """
    (query_h, query_w), (key_h, key_w) = query_hw, key_hw
    if stride * (query_h - 1) >= key_h or stride * (query_w - 1) >= key_w:
        raise ValueError(f'offset_index: queries of grid {tuple(query_hw)} at stride {stride} '
                         f'fall outside the key grid {tuple(key_hw)}')
    qy = torch.arange(query_h, device=device) * stride
    qx = torch.arange(query_w, device=device) * stride
    ky = torch.arange(key_h, device=device)
    kx = torch.arange(key_w, device=device)
    dy = (qy[:, None, None, None] - ky[None, None, :, None]).abs()  # H_q, 1, H_k, 1
    dx = (qx[None, :, None, None] - kx[None, None, None, :]).abs()  # 1, W_q, 1, W_k
    return (dy * key_w + dx).reshape(query_h * query_w, key_h * key_w)


def resize_bias_table(table: torch.Tensor, src_hw: Grid, dst_hw: Grid,
                      mode: str = 'bicubic') -> torch.Tensor:
    """Resize a per-head offset table ``(heads, H_s * W_s)`` to ``(heads, H_d * W_d)``.

    The identity when ``src_hw == dst_hw``; otherwise ``F.interpolate`` on the ``(H, W)`` offset
    grid of every head (``align_corners=False``, as for relative-position tables elsewhere).
    """
    if mode not in _INTERPOLATION_MODES:
        raise ValueError(f'resize_bias_table: mode ({mode!r}) must be one of '
                         f'{_INTERPOLATION_MODES}')
    if tuple(src_hw) == tuple(dst_hw):
        return table
    heads = table.shape[0]
    grid = table.reshape(1, heads, *src_hw)  # 1, heads, H_s, W_s
    align = None if mode == 'nearest' else False
    grid = F.interpolate(grid, size=tuple(dst_hw), mode=mode, align_corners=align)
    return grid.reshape(heads, -1)  # heads, H_d * W_d


# Query-key pairs per head from which PyTorch's fused attention kernel takes over from the
# explicit product on CPU. The fused kernel is clearly slower at LeViT's 224 grids (196 x 196
# tokens) and about break-even at 2048 x 2048 (a 512 x 1024 input's first stage), where it also
# avoids materialising the N x N logits; the ratios depend on the CPU (bench/levit.py prints
# them; bench/RESULTS.md). CUDA always takes the fused kernel.
_FUSED_ATTENTION_MIN_PAIRS = 2048 * 1024


def _biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                      scale: float) -> torch.Tensor:
    """``softmax(q k^T * scale + bias) v`` for ``(B, heads, N, D)`` tensors."""
    if q.is_cuda or q.shape[-2] * k.shape[-2] >= _FUSED_ATTENTION_MIN_PAIRS:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=scale)
    attn = (q @ k.transpose(-2, -1)) * scale + bias  # B, heads, N_q, N_k
    return attn.softmax(dim=-1) @ v


class _BiasedAttention(nn.Module):
    """Owner of ``attention_biases`` (stored at the pretraining grid) and of its cache."""

    def __init__(self, num_heads: int, pretrain_hw: Union[int, Grid], stride: int,
                 bias_interpolation: str) -> None:
        super().__init__()
        if bias_interpolation not in _INTERPOLATION_MODES:
            raise ValueError(f'{type(self).__name__}: bias_interpolation '
                             f'({bias_interpolation!r}) must be one of {_INTERPOLATION_MODES}')
        self.pretrain_hw = _pair(pretrain_hw)
        self.stride = stride
        self.bias_interpolation = bias_interpolation
        # heads x R^2, index |dy| * R + |dx| [official layout]
        self.attention_biases = nn.Parameter(
            torch.zeros(num_heads, self.pretrain_hw[0] * self.pretrain_hw[1]))
        self._bias_cache: Dict[tuple, Tuple[tuple, torch.Tensor]] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_bias_cache'] = {}  # copies and pickles never carry gathered biases
        return state

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._bias_cache = {}
        super()._load_from_state_dict(*args, **kwargs)

    def clear_bias_cache(self) -> None:
        """Forget every gathered bias (done automatically on train/eval/to/load_state_dict)."""
        self._bias_cache = {}

    def train(self, mode: bool = True) -> '_BiasedAttention':
        self._bias_cache = {}
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self._bias_cache = {}
        return super()._apply(fn, *args, **kwargs)

    def _gather_bias(self, query_hw: Grid, key_hw: Grid) -> torch.Tensor:
        table = resize_bias_table(self.attention_biases, self.pretrain_hw, key_hw,
                                  self.bias_interpolation)
        index = offset_index(query_hw, key_hw, self.stride, table.device)
        return table[:, index]  # heads, N_q, N_k

    def attention_bias(self, query_hw: Grid, key_hw: Grid) -> torch.Tensor:
        """The ``(heads, N_q, N_k)`` bias for the given grids (cached in eval without grad)."""
        biases = self.attention_biases
        needs_grad = torch.is_grad_enabled() and biases.requires_grad
        if self.training or needs_grad or torch.jit.is_tracing():
            return self._gather_bias(query_hw, key_hw)
        key = (biases.device, tuple(query_hw), tuple(key_hw), torch.is_inference_mode_enabled())
        # the version counter moves on every in-place write to the table (copy_, add_, ...)
        stamp = (biases._version, biases.data_ptr(), biases.dtype)
        hit = self._bias_cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        bias = self._gather_bias(query_hw, key_hw)
        self._bias_cache[key] = (stamp, bias)
        return bias


class LeViTAttention(_BiasedAttention):
    """Multi-head self-attention with per-head offset bias on a token grid (official ``levit.py``
    ``Attention``; docs/paper_facts.md#levit).

    ``qkv`` (Linear+BN) -> per head q, k (key_dim) and v (attn_ratio * key_dim) ->
    ``softmax(q k^T / sqrt(key_dim) + B[|dy|, |dx|])`` -> Hardswish -> ``proj`` (Linear+BN, weight
    0 at init as the block is residual).

    Args:
        dim (int): token channels.
        key_dim (int): per-head query/key dim D.
        num_heads (int): heads.
        attn_ratio (float): value dim / key dim. Defaults to 2.
        pretrain_hw (int | tuple): token grid of the pretraining input, where the bias table is
            stored (14 for 224 inputs). Defaults to 14.
        act_layer (type): activation before ``proj``. Defaults to ``nn.Hardswish``.
        norm_layer (callable): 1d norm factory for the Linear+BN pairs. Defaults to
            ``nn.BatchNorm1d``.
        bias_interpolation (str): 'bicubic' | 'bilinear' | 'nearest' resize of the bias table
            to other grids. Defaults to 'bicubic'.
        deploy (bool): build the folded Linear+BN pairs. Defaults to False.
    """

    def __init__(self,
                 dim: int,
                 key_dim: int,
                 num_heads: int,
                 attn_ratio: float = 2.,
                 pretrain_hw: Union[int, Grid] = 14,
                 act_layer: Callable[[], nn.Module] = nn.Hardswish,
                 norm_layer: NormFactory = nn.BatchNorm1d,
                 bias_interpolation: str = 'bicubic',
                 deploy: bool = False) -> None:
        super().__init__(num_heads, pretrain_hw, 1, bias_interpolation)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = int(attn_ratio * key_dim)
        self.scale = key_dim**-0.5
        # per head [q | k | v] channel layout [official]
        self.qkv = LinearBN(dim, num_heads * (2 * key_dim + self.value_dim),
                            norm_layer=norm_layer, deploy=deploy)
        self.act = act_layer()
        self.proj = LinearBN(num_heads * self.value_dim, dim, bn_weight_init=0.,
                             norm_layer=norm_layer, deploy=deploy)

    def forward(self, x: torch.Tensor, hw: Grid) -> torch.Tensor:
        """``x``: ``(B, N, C)`` tokens of the ``hw`` grid (row-major); returns ``(B, N, C)``."""
        batch, tokens, _ = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, self.num_heads, -1).split(
            [self.key_dim, self.key_dim, self.value_dim], dim=3)  # B, N, heads, D|D|Dv
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # B, heads, N, D
        x = _biased_attention(q, k, v, self.attention_bias(hw, hw), self.scale)
        return self.proj(self.act(x.transpose(1, 2).reshape(batch, tokens, -1)))  # B, N, C


class LeViTShrinkAttention(_BiasedAttention):
    """Attention from the stride-2 subsampled grid to the full grid (official ``levit.py``
    ``AttentionSubsample``; docs/paper_facts.md#levit).

    Keys / values from every token of the ``H x W`` grid, queries from tokens ``(2i, 2j)``
    (``ceil(H / 2) x ceil(W / 2)`` of them), value dim ``attn_ratio * key_dim``; no residual,
    so ``proj`` keeps its norm weight at 1.

    Args:
        in_dim (int): input channels.
        out_dim (int): output channels.
        key_dim (int): per-head query/key dim D.
        num_heads (int): heads (``in_dim // key_dim`` in LeViT).
        attn_ratio (float): value dim / key dim. Defaults to 4.
        stride (int): query subsampling stride. Defaults to 2.
        pretrain_hw (int | tuple): key grid at pretraining, where the bias table is stored.
            Defaults to 14.
        act_layer, norm_layer, bias_interpolation, deploy: as in :class:`LeViTAttention`.
    """

    def __init__(self,
                 in_dim: int,
                 out_dim: int,
                 key_dim: int,
                 num_heads: int,
                 attn_ratio: float = 4.,
                 stride: int = 2,
                 pretrain_hw: Union[int, Grid] = 14,
                 act_layer: Callable[[], nn.Module] = nn.Hardswish,
                 norm_layer: NormFactory = nn.BatchNorm1d,
                 bias_interpolation: str = 'bicubic',
                 deploy: bool = False) -> None:
        super().__init__(num_heads, pretrain_hw, stride, bias_interpolation)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = int(attn_ratio * key_dim)
        self.scale = key_dim**-0.5
        # per head [k | v] channel layout [official]
        pair = dict(norm_layer=norm_layer, deploy=deploy)
        self.kv = LinearBN(in_dim, num_heads * (key_dim + self.value_dim), **pair)
        self.q = LinearBN(in_dim, num_heads * key_dim, **pair)
        self.act = act_layer()
        self.proj = LinearBN(num_heads * self.value_dim, out_dim, **pair)

    def output_hw(self, hw: Grid) -> Grid:
        return tuple(math.ceil(size / self.stride) for size in hw)

    def forward(self, x: torch.Tensor, hw: Grid) -> Tuple[torch.Tensor, Grid]:
        """``x``: ``(B, H*W, C)``; returns ``(B, H'*W', out_dim)`` and ``(H', W')``."""
        batch, tokens, channels = x.shape
        query_hw = self.output_hw(hw)
        k, v = self.kv(x).view(batch, tokens, self.num_heads, -1).split(
            [self.key_dim, self.value_dim], dim=3)  # B, N, heads, D|Dv
        k, v = k.transpose(1, 2), v.transpose(1, 2)  # B, heads, N, D
        queries = x.view(batch, hw[0], hw[1], channels)[:, ::self.stride, ::self.stride]
        queries = queries.reshape(batch, -1, channels)  # B, N', C
        q = self.q(queries).view(batch, -1, self.num_heads, self.key_dim).transpose(1, 2)
        x = _biased_attention(q, k, v, self.attention_bias(query_hw, hw), self.scale)
        x = x.transpose(1, 2).reshape(batch, q.shape[2], -1)  # B, N', heads * Dv
        return self.proj(self.act(x)), query_hw


class LeViTMlp(nn.Module):
    """Linear+BN (ratio ``mlp_ratio``), Hardswish, Linear+BN (norm weight 0: residual branch).

    Args:
        dim (int): token channels.
        mlp_ratio (float): hidden / dim. Defaults to 2.
        act_layer (type): activation. Defaults to ``nn.Hardswish``.
        norm_layer (callable): 1d norm factory. Defaults to ``nn.BatchNorm1d``.
        deploy (bool): build the folded Linear+BN pairs. Defaults to False.
    """

    def __init__(self,
                 dim: int,
                 mlp_ratio: float = 2.,
                 act_layer: Callable[[], nn.Module] = nn.Hardswish,
                 norm_layer: NormFactory = nn.BatchNorm1d,
                 deploy: bool = False) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.fc1 = LinearBN(dim, hidden, norm_layer=norm_layer, deploy=deploy)
        self.act = act_layer()
        self.fc2 = LinearBN(hidden, dim, bn_weight_init=0., norm_layer=norm_layer, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LeViTBlock(nn.Module):
    """``x + attn(x)`` then ``x + mlp(x)``, each branch with stochastic depth.

    Args:
        dim (int): token channels.
        key_dim (int): per-head key dim D.
        num_heads (int): heads.
        attn_ratio (float): value dim / key dim. Defaults to 2.
        mlp_ratio (float): MLP hidden / dim. Defaults to 2.
        drop_path (float): stochastic-depth rate of both branches. Defaults to 0.
        pretrain_hw (int | tuple): token grid at pretraining. Defaults to 14.
        act_layer, norm_layer, bias_interpolation, deploy: as in :class:`LeViTAttention`.
    """

    def __init__(self,
                 dim: int,
                 key_dim: int,
                 num_heads: int,
                 attn_ratio: float = 2.,
                 mlp_ratio: float = 2.,
                 drop_path: float = 0.,
                 pretrain_hw: Union[int, Grid] = 14,
                 act_layer: Callable[[], nn.Module] = nn.Hardswish,
                 norm_layer: NormFactory = nn.BatchNorm1d,
                 bias_interpolation: str = 'bicubic',
                 deploy: bool = False) -> None:
        super().__init__()
        self.attn = LeViTAttention(dim, key_dim, num_heads, attn_ratio, pretrain_hw, act_layer,
                                   norm_layer, bias_interpolation, deploy)
        self.mlp = LeViTMlp(dim, mlp_ratio, act_layer, norm_layer, deploy)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, hw: Grid) -> Tuple[torch.Tensor, Grid]:
        x = x + self.drop_path(self.attn(x, hw))
        x = x + self.drop_path(self.mlp(x))
        return x, hw


class LeViTShrinkBlock(nn.Module):
    """Shrink attention (no residual) then ``x + mlp(x)``: opens stages 2 and 3.

    Args:
        in_dim (int): input channels.
        out_dim (int): output channels.
        key_dim (int): per-head key dim D; heads are ``in_dim // key_dim`` [paper].
        attn_ratio (float): value dim / key dim. Defaults to 4.
        mlp_ratio (float): MLP hidden / dim. Defaults to 2.
        drop_path (float): stochastic-depth rate of the MLP branch. Defaults to 0.
        pretrain_hw (int | tuple): key grid at pretraining. Defaults to 14.
        act_layer, norm_layer, bias_interpolation, deploy: as in :class:`LeViTAttention`.
    """

    def __init__(self,
                 in_dim: int,
                 out_dim: int,
                 key_dim: int,
                 attn_ratio: float = 4.,
                 mlp_ratio: float = 2.,
                 drop_path: float = 0.,
                 pretrain_hw: Union[int, Grid] = 14,
                 act_layer: Callable[[], nn.Module] = nn.Hardswish,
                 norm_layer: NormFactory = nn.BatchNorm1d,
                 bias_interpolation: str = 'bicubic',
                 deploy: bool = False) -> None:
        super().__init__()
        if in_dim % key_dim != 0:
            raise ValueError(f'LeViTShrinkBlock: in_dim ({in_dim}) must be divisible by '
                             f'key_dim ({key_dim}): the shrink attention has in_dim // key_dim '
                             'heads')
        self.attn = LeViTShrinkAttention(in_dim, out_dim, key_dim, in_dim // key_dim, attn_ratio,
                                         2, pretrain_hw, act_layer, norm_layer,
                                         bias_interpolation, deploy)
        self.mlp = LeViTMlp(out_dim, mlp_ratio, act_layer, norm_layer, deploy)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, hw: Grid) -> Tuple[torch.Tensor, Grid]:
        x, hw = self.attn(x, hw)
        x = x + self.drop_path(self.mlp(x))
        return x, hw
