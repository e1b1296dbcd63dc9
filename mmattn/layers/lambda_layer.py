"""Lambda layers: "LambdaNetworks: Modeling Long-Range Interactions without Attention".

Bello, ICLR 2021, arXiv:2102.08602. Plain PyTorch, no OpenMMLab import.

A lambda layer summarises the context into small linear functions (lambdas) and applies them to
every query. For ``h`` query heads of depth ``k``, intra-depth ``u`` and value depth
``v = out_channels / h`` (one image, ``n`` query and ``m`` context positions)::

    Q = BN(X W_Q)          n x h x k      (multi-query heads share one key/value set)
    K = X W_K              m x k x u      (no BN on keys)
    V = BN(X W_V)          m x v x u
    content_lambda         = sum_{m,u} softmax_m(K)[m,k,u] V[m,v,u]               k x v
    position_lambda[n]     = sum_{m,u} E[n-m,k,u] V[m,v,u]                        k x v, per query
    y[n,h]                 = (content_lambda + position_lambda[n])^T Q[n,h]       v, per head

Same as the paper (section 3 and its einsum pseudo-code): BN on queries and values only, softmax of
the keys over positions, content plus position lambdas, intra-depth ``u`` summed in both lambdas,
stride 2 as the stride-1 layer followed by 3x3 average pooling with stride 2.

Differences and choices where the paper is silent:

* Position term. ``position_lambda`` holds ``k*v`` numbers per pixel (4x the activation at d=256)
  and the backward of its r x r convolution (k inputs -> u outputs, or a whole-map filter for the
  embedding gradient) is slow. :class:`_PositionOutput`, a custom autograd function, computes the
  position OUTPUT instead: the lambda convolution is one 2D convolution with the value depth
  folded into the batch (``B*v, u, H, W -> B*v, k, H, W``); it is contracted with the queries in
  small slices over ``v``, so only a slice of the lambdas exists at any time; backward keeps only
  Q, V and E and recomputes the lambdas; the value and embedding gradients are the two adjoint
  convolutions, computed through the convolution theorem from one FFT of the lambda gradients.
  Every step is exact algebra (FFT rounding is float32 rounding, about 1e-6 relative); tests prove
  it equal to the paper's einsum with an explicit embedding table, values and gradients.
* Embeddings are cropped to the reachable offsets (at most ``2H-1 x 2W-1``) before the convolution,
  so maps smaller than ``r`` (c5 of small images) cost what the map needs, not ``r x r``.
* ``r=None`` (global context) uses relative embeddings ``E[n-m]`` for a fixed ``size``: that is the
  lambda convolution with a ``(2H-1) x (2W-1)`` scope, so both forms share one code path.
* ``bias=True`` adds a learnable per-key-channel bias to the position lambdas (what the
  ``lambda-networks`` port's Conv3d does silently). Off by default as in the paper's einsum. A
  bias on the projections would be a no-op (BN follows Q and V; the keys' softmax is
  shift-invariant).
* Mixed precision: the projections follow the ambient autocast; the softmax, both lambdas and their
  application run in float32 (half-precision sums over thousands of positions overflow), and the
  result is cast back to the projections' dtype.
* Initialisation: projections N(0, 1/in_channels) (unit-variance key logits at init; Q and V are
  re-normalised by BN anyway); embeddings N(0, 1/(k*u*scope)) so the position output starts with
  unit variance; BN weight 1, bias 0.
* Average pooling after a stride-2 layer excludes the zero padding from the mean at the borders.
"""
import math
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['LambdaLayer']

# Upper bound on the elements of one slice of position lambdas (B * v_chunk * k * H * W): 2 MiB
# in float32. With the backward's FFT buffers (a few times this) it bounds the transient memory of
# the position term independently of ``out_channels``; smaller slices start to cost speed.
_LAMBDA_CHUNK_ELEMENTS = 1 << 19


class LambdaLayer(nn.Module):
    """Lambda layer (lambda convolution or global), drop-in for a 3x3 convolution.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of the output, ``heads * v``; must be divisible by ``heads``.
        dim_k (int): Query/key depth ``k``. Default: 16 (paper).
        heads (int): Number of query heads ``h``. Default: 4 (paper).
        dim_u (int): Intra-depth ``u``. Default: 1 (paper; 4 is its +0.5% top-1 variant).
        r (int, optional): Odd side of the local scope of the lambda convolution; any input size
            works, including maps smaller than ``r``. ``None`` selects global context with relative
            position embeddings for the fixed ``size``. Default: 23 (paper).
        stride (int): 1, or 2 for the layer at stride 1 followed by 3x3 average pooling with
            stride 2 (paper). Output size is ``ceil(H / stride) x ceil(W / stride)``. Default: 1.
        bias (bool): Add a learnable bias (per key channel) to the position lambdas. Default: False.
        size (tuple[int, int], optional): ``(H, W)`` of the input, required for ``r=None`` and
            only allowed then. Default: None.
        norm_layer (callable): ``norm_layer(num_channels)`` builds the norms on queries and
            values (e.g. a SyncBatchNorm factory); OpenMMLab adapters build it from an mmcv
            ``norm_cfg``. Default: ``nn.BatchNorm2d``.

    Shape:
        input ``(B, in_channels, H, W)`` -> output ``(B, out_channels, ceil(H/stride),
        ceil(W/stride))``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 dim_k: int = 16,
                 heads: int = 4,
                 dim_u: int = 1,
                 r: Optional[int] = 23,
                 stride: int = 1,
                 bias: bool = False,
                 *,
                 size: Optional[Sequence[int]] = None,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('dim_k', dim_k), ('heads', heads), ('dim_u', dim_u)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'LambdaLayer: {name} ({value!r}) must be a positive int')
        if out_channels % heads:
            raise ValueError(f'LambdaLayer: out_channels ({out_channels}) must be divisible by '
                             f'heads ({heads})')
        if not callable(norm_layer):
            raise TypeError(f'LambdaLayer: norm_layer ({norm_layer!r}) must be a callable '
                            'channels -> module, e.g. nn.BatchNorm2d')
        if stride not in (1, 2):
            raise ValueError(f'LambdaLayer: stride ({stride!r}) must be 1 or 2 (stride 2 = the '
                             'layer at stride 1 followed by 3x3 average pooling with stride 2)')
        if r is None:
            if size is None:
                raise ValueError('LambdaLayer: r=None (global context) needs size=(H, W), the '
                                 'fixed input size its relative embeddings are built for')
            size = tuple(size)
            if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
                raise ValueError(f'LambdaLayer: size ({size!r}) must be (H, W), two positive ints')
            scope = (2 * size[0] - 1, 2 * size[1] - 1)
        else:
            if not isinstance(r, int) or isinstance(r, bool) or r < 1 or r % 2 == 0:
                raise ValueError(f'LambdaLayer: r ({r!r}) must be an odd positive int (lambda '
                                 'convolution over an r x r scope) or None (global context)')
            if size is not None:
                raise ValueError(f'LambdaLayer: size ({size!r}) is only used with r=None (global '
                                 f'context); the lambda convolution (r={r}) takes any size')
            scope = (r, r)

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dim_k = dim_k
        self.heads = heads
        self.dim_u = dim_u
        self.dim_v = out_channels // heads
        self.r = r
        self.size = size
        self.stride = stride

        # Channel orders (h, k), (k, u) and (v, u) make every reshape below a view.
        self.to_queries = nn.Conv2d(in_channels, heads * dim_k, 1, bias=False)
        self.to_keys = nn.Conv2d(in_channels, dim_k * dim_u, 1, bias=False)
        self.to_values = nn.Conv2d(in_channels, self.dim_v * dim_u, 1, bias=False)
        self.norm_queries = norm_layer(heads * dim_k)
        self.norm_values = norm_layer(self.dim_v * dim_u)
        # position_embeddings[k, u, i, j] is E for the context at offset (i - sh//2, j - sw//2).
        self.position_embeddings = nn.Parameter(torch.empty(dim_k, dim_u, *scope))
        self.position_bias = nn.Parameter(torch.zeros(dim_k)) if bias else None
        self.pool = (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
                     if stride == 2 else nn.Identity())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as described in the module docstring."""
        for conv in (self.to_queries, self.to_keys, self.to_values):
            nn.init.normal_(conv.weight, std=self.in_channels**-0.5)
        for norm in (self.norm_queries, self.norm_values):
            if getattr(norm, 'weight', None) is not None:
                nn.init.ones_(norm.weight)
                nn.init.zeros_(norm.bias)
        scope = self.position_embeddings.shape[-2] * self.position_embeddings.shape[-1]
        nn.init.normal_(self.position_embeddings, std=(self.dim_k * self.dim_u * scope)**-0.5)
        if self.position_bias is not None:
            nn.init.zeros_(self.position_bias)

    def init_weights(self) -> None:
        """Same as :meth:`reset_parameters`, under the name OpenMMLab calls on sub-modules.

        mmengine's ``init_weights()`` applies a host's ``init_cfg`` (e.g. ResNet's Kaiming on every
        Conv2d) and then calls ``init_weights()`` of the children, so this restores the lambda
        layer's own initialisation inside any OpenMMLab model.
        """
        self.reset_parameters()

    def extra_repr(self) -> str:
        scope = f'r={self.r}' if self.r is not None else f'global, size={self.size}'
        return (f'{self.in_channels}, {self.out_channels}, dim_k={self.dim_k}, '
                f'heads={self.heads}, dim_u={self.dim_u}, {scope}, stride={self.stride}, '
                f'bias={self.position_bias is not None}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        content, position, out_dtype = self._terms(x)
        return self.pool((content + position).to(out_dtype))

    def forward_terms(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The content and position outputs, ``(B, out_channels, H, W)`` each, before pooling.

        Their sum is the layer's output at stride 1. For analysis: what each term contributes,
        and the locality of the position term.
        """
        content, position, out_dtype = self._terms(x)
        return content.to(out_dtype), position.to(out_dtype)

    def _terms(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.dtype]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'LambdaLayer: expected input (B, {self.in_channels}, H, W), got '
                             f'{tuple(x.shape)}')
        batch, _, height, width = x.shape
        if self.size is not None and (height, width) != self.size:
            raise ValueError(
                f'LambdaLayer: global context (r=None) was built for size {self.size}, got an '
                f'input of {height}x{width}; build it for that size or use a lambda convolution '
                '(odd r), which takes any size')
        n = height * width
        h, k, u, v = self.heads, self.dim_k, self.dim_u, self.dim_v

        queries = self.norm_queries(self.to_queries(x))
        keys = self.to_keys(x)
        values = self.norm_values(self.to_values(x))
        out_dtype = queries.dtype

        # float32 at least (float64 stays float64), whatever autocast chose for the projections
        compute_dtype = torch.promote_types(out_dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            queries = queries.to(compute_dtype).reshape(batch, h, k, n)  # B, h, k, n
            keys = keys.to(compute_dtype).reshape(batch, k, u, n).softmax(dim=-1)  # B, k, u, m
            values = values.to(compute_dtype).reshape(batch, v, u, height, width)  # B,v,u,H,W

            content_lambda = torch.einsum('bkum,bvum->bkv', keys,
                                          values.reshape(batch, v, u, n))  # B, k, v
            content = torch.einsum('bhkn,bkv->bhvn', queries, content_lambda)  # B, h, v, n
            embeddings = self._reachable_embeddings(height, width).to(compute_dtype)
            position = _PositionOutput.apply(queries, values, embeddings)  # B, h, v, n
            if self.position_bias is not None:
                # position_lambda[n] + bias[k] (broadcast over v) adds sum_k q[n,h,k] bias[k]
                bias = self.position_bias.to(compute_dtype)
                bias_out = torch.einsum('bhkn,k->bhn', queries, bias)
                position = position + bias_out.unsqueeze(2)

        shape = (batch, h * v, height, width)  # B, out_channels, H, W (channels in (h, v) order)
        return content.reshape(shape), position.reshape(shape), out_dtype

    def _reachable_embeddings(self, height: int, width: int) -> torch.Tensor:
        """The centre of the embeddings that can reach a position of an H x W map."""
        scope_h, scope_w = self.position_embeddings.shape[-2:]
        keep_h, keep_w = min(scope_h, 2 * height - 1), min(scope_w, 2 * width - 1)
        top, left = (scope_h - keep_h) // 2, (scope_w - keep_w) // 2
        return self.position_embeddings[:, :, top:top + keep_h, left:left + keep_w]


def _value_chunks(batch: int, dim_k: int, dim_v: int, pixels: int) -> Sequence[Tuple[int, int]]:
    """``[start, end)`` slices of the value depth whose lambdas fit _LAMBDA_CHUNK_ELEMENTS."""
    per_value = batch * dim_k * pixels
    step = max(1, min(dim_v, _LAMBDA_CHUNK_ELEMENTS // max(per_value, 1)))
    num = math.ceil(dim_v / step)
    step = math.ceil(dim_v / num)  # equal chunks
    return [(start, min(start + step, dim_v)) for start in range(0, dim_v, step)]


class _PositionOutput(torch.autograd.Function):
    """``y[b,h,v,n] = sum_k queries[b,h,k,n] * position_lambda[b,n,k,v]`` without storing lambdas.

    ``position_lambda[b, :, k, v] = conv2d(values[b, v], embeddings[k])`` summed over ``u``
    (cross-correlation, zero padding, so offsets outside the map contribute nothing).

    Inputs: queries ``(B, h, k, n)``, values ``(B, v, u, H, W)``, embeddings ``(k, u, sh, sw)`` with
    odd ``sh, sw``; all float32 or float64 on one device.
    """

    @staticmethod
    def forward(ctx, queries: torch.Tensor, values: torch.Tensor,
                embeddings: torch.Tensor) -> torch.Tensor:
        batch, heads, dim_k, pixels = queries.shape
        _, dim_v, dim_u, height, width = values.shape
        padding = (embeddings.shape[-2] // 2, embeddings.shape[-1] // 2)
        out = queries.new_empty(batch, heads, dim_v, pixels)
        for start, end in _value_chunks(batch, dim_k, dim_v, pixels):
            lambdas = _lambdas(values[:, start:end], embeddings, padding)  # B, vc, k, n
            _apply_lambdas(queries, lambdas, out=out[:, :, start:end])
        ctx.save_for_backward(queries, values, embeddings)
        ctx.padding = padding
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        queries, values, embeddings = ctx.saved_tensors
        pad_h, pad_w = ctx.padding
        batch, heads, dim_k, pixels = queries.shape
        _, dim_v, dim_u, height, width = values.shape
        need_q, need_v, need_e = ctx.needs_input_grad
        grad_q = torch.zeros_like(queries) if need_q else None
        grad_v = torch.empty_like(values) if need_v else None
        # The value and embedding gradients are the two adjoints of the lambda convolution. As
        # direct convolutions they have k inputs and u (1) outputs, or a (2p+1)^2 output from a
        # whole-map filter: slow kernels. Via the convolution theorem they share one FFT of the
        # lambda gradients and cost a few pointwise products. A circular size of H + p per axis
        # is enough: no wrapped index lands inside the map or the +-p window.
        fft_size = (_fft_friendly(height + pad_h), _fft_friendly(width + pad_w))
        if need_v:
            # embeddings placed at their offsets modulo the FFT size: gV = grad_lambdas * E
            placed = F.pad(embeddings, (0, fft_size[1] - embeddings.shape[-1], 0,
                                        fft_size[0] - embeddings.shape[-2]))
            embeddings_f = torch.fft.rfft2(placed.roll((-pad_h, -pad_w), (-2, -1)))  # k, u, P, Pf
        grad_e_f = None
        for start, end in _value_chunks(batch, dim_k, dim_v, pixels):
            chunk = end - start
            grad_chunk = grad_out[:, :, start:end]  # B, h, vc, n
            if need_q:
                lambdas = _lambdas(values[:, start:end], embeddings, ctx.padding)  # B, vc, k, n
                for value in range(chunk):  # multiply-adds beat einsum here, see _apply_lambdas
                    grad_q.addcmul_(grad_chunk[:, :, value, None], lambdas[:, None, value])
                del lambdas
            if not (need_v or need_e):
                continue
            grad_lambdas = queries[:, 0, None] * grad_chunk[:, 0, :, None]  # B, vc, k, n
            for head in range(1, heads):
                grad_lambdas.addcmul_(queries[:, head, None], grad_chunk[:, head, :, None])
            grad_lambdas_f = torch.fft.rfft2(
                grad_lambdas.reshape(batch * chunk, dim_k, height, width), s=fft_size)
            del grad_lambdas
            # Sums over k (value gradient) and over the batch (embedding gradient) run as loops
            # of multiply-adds: a broadcast product would hold another copy of grad_lambdas_f.
            if need_v:
                grad_v_f = grad_lambdas_f.new_zeros(batch * chunk, dim_u,
                                                    *grad_lambdas_f.shape[-2:])
                for key in range(dim_k):  # gV_f[n, u] = sum_k G[n, k] E_f[k, u]
                    grad_v_f.add_(grad_lambdas_f[:, key, None] * embeddings_f[key])
                grad_v[:, start:end] = torch.fft.irfft2(grad_v_f, s=fft_size)[
                    ..., :height, :width].reshape(batch, chunk, dim_u, height, width)
                del grad_v_f
            if need_e:
                # gE[off] = sum_p grad_lambdas[p] V[p + off]: a cross-correlation summed over
                # batch and values, accumulated in the frequency domain across chunks.
                values_f = torch.fft.rfft2(
                    values[:, start:end].reshape(batch * chunk, dim_u, height, width), s=fft_size)
                if grad_e_f is None:
                    grad_e_f = values_f.new_zeros(dim_k, *values_f.shape[1:])  # k, u, P, Pf
                for key in range(dim_k):  # gE_f[k, u] += sum_n conj(G[n, k]) V_f[n, u]
                    grad_e_f[key] += (grad_lambdas_f[:, key, None].conj() * values_f).sum(0)
                del values_f
            del grad_lambdas_f
        grad_e = None
        if need_e:
            grad_e = torch.fft.irfft2(grad_e_f, s=fft_size).roll((pad_h, pad_w), (-2, -1))[
                ..., :embeddings.shape[-2], :embeddings.shape[-1]].contiguous()
        return grad_q, grad_v, grad_e


def _fft_friendly(size: int) -> int:
    """The smallest ``n >= size`` whose prime factors are 2, 3 and 5 (fast FFT lengths)."""
    while True:
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


def _apply_lambdas(queries: torch.Tensor, lambdas: torch.Tensor, out: torch.Tensor) -> None:
    """``out[b,h,v,n] = sum_k queries[b,h,k,n] * lambdas[b,v,k,n]``, written into ``out``.

    A loop over the few key channels of broadcast multiply-adds: on chunks that fit the cache
    this beats einsum's batched tiny matmuls (one 4 x 16 by 16 x v product per pixel) several-fold.
    """
    torch.mul(queries[:, :, 0, None], lambdas[:, None, :, 0], out=out)
    for key in range(1, queries.shape[2]):
        out.addcmul_(queries[:, :, key, None], lambdas[:, None, :, key])


def _lambdas(values: torch.Tensor, embeddings: torch.Tensor,
             padding: Tuple[int, int]) -> torch.Tensor:
    """Position lambdas of a value slice ``(B, vc, u, H, W)`` -> ``(B, vc, k, H*W)``."""
    batch, chunk, dim_u, height, width = values.shape
    flat = values.reshape(batch * chunk, dim_u, height, width)  # B*vc, u, H, W
    lambdas = F.conv2d(flat, embeddings, padding=padding)  # B*vc, k, H, W
    return lambdas.reshape(batch, chunk, embeddings.shape[0], height * width)
