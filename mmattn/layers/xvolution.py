"""X-volution: a convolution and a self-attention branch trained together, merged for inference.

Paper: Xuanhong Chen, Hang Wang, Bingbing Ni, "X-volution: On the Unification of Convolution and
Self-attention", arXiv:2106.02253 (2021). No public code exists; this file is a reference
implementation whose open choices are constructor options (defaults documented below and in
``docs/xvolution.md``).

Training form (paper)::

    y = BN_c(conv_kxk(x)) + BN_a(attention(x))

with ``attention`` either global self-attention (``'sa'``, exact, O(n^2)) or Pixel Shift
Self-Attention (``'pssa'``, O(n)). Deploy form (``switch_to_deploy``)::

    y = conv_kxk'(x) + attention'(x)

where ``conv_kxk'`` holds BN_c and the shift of BN_a and ``attention'`` has BN_a's scale folded into
its output projection. Overall ``y(p) = sum_i (w_A(x_p, x_i) + W_c) x_i + b``: a static kxk conv
plus a dynamic one. In the linear PSSA setting (``product='channel'``, ``normalize='none'``) the D
per-offset shift-product branches equal ``x * depthwise_conv(x)`` (one dilated 3x3 depthwise conv
per shift length); both forms compute it that way, the deploy form with the kernels precomputed.

PSSA as implemented here (paper: shift by L pixels in several directions, element-wise product with
the unshifted map, aggregate the products with a convolution). For each offset ``o = L * d``::

    logit_o(p) = x(p) * x(p + o)                    product='channel'  (C values)
               = <x_h(p), x_h(p + o)> / sqrt(C / H)  product='sum'      (one value per head)
    response_o = logit_o                             normalize='none'   (the products themselves)
               = softmax_o(logit_o) * x(p + o)       normalize='softmax' (local attention)
               = sigmoid(logit_o) * x(p + o)         normalize='sigmoid'
    attention(x) = project_1x1(sum_o offset_weight[o] * response_o)

i.e. the aggregating convolution is factorised into a per-offset, per-channel weighting followed by
a 1x1 projection. Pixels outside the image are zeros (as the conv's zero padding).

Our choices where the paper is silent (all options):
    * ``directions=8`` (the 3x3 neighbourhood), ``shifts=None`` -> ``(dilation,)`` so the attention
      sees the same pixels as the dilated conv.
    * ``product='channel'``, ``normalize='none'``: the paper's text taken literally; it is also the
      cheapest setting (the D shift branches are one depthwise conv, see above).
    * stride (the strided first block of a ResNet stage): ``stride_mode='subsample'`` evaluates the
      attention only at the output positions (queries on the strided grid, keys and values at full
      resolution, as a strided conv does); ``'avgpool'`` computes it at full resolution and average-
      pools it over the conv's footprint.
    * SA: 1x1 query/key projections (``qk_channels``), values are the input itself, a 1x1 output
      projection; no positional encoding.
    * ``conv_norm=False`` drops BN_c for hosts that already put a BN after the layer (mmdet/mmseg
      ResNet's ``bn2`` after ``conv2``), so ImageNet ``conv2``/``bn2`` weights keep their meaning.
"""
import logging
import math
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .reparam import Reparameterizable, bn_scale_shift, fuse_conv_bn

__all__ = ['XVolution']

_LOGGER = logging.getLogger(__name__)

_DIRECTIONS = {
    # (dy, dx): up, down, left, right, then the four diagonals.
    4: ((-1, 0), (1, 0), (0, -1), (0, 1)),
    8: ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}
_ATTENTIONS = ('sa', 'pssa')
_PRODUCTS = ('channel', 'sum')
_NORMALIZES = ('none', 'softmax', 'sigmoid')
_STRIDE_MODES = ('subsample', 'avgpool')


class XVolution(Reparameterizable):
    """Convolution + self-attention branches (training) re-parameterised into one operator.

    The signature starts like ``nn.Conv2d`` so that mmdet/mmseg ResNet builds it as ``conv2``
    through ``dcn=dict(type='mmattn.XVolution', ...)``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size of the conv branch (odd). Default: 3.
        stride (int): Stride of both branches. Default: 1.
        padding (int): Must be ``dilation * (kernel_size - 1) // 2`` ("same" padding), so that both
            branches produce the same grid. Default: 1.
        dilation (int): Dilation of the conv branch. Default: 1.
        groups (int): Groups of the conv branch. Default: 1.
        bias (bool): Bias of the conv branch. Default: False.
        attention (str): ``'pssa'`` (pixel shift self-attention, O(n)) or ``'sa'`` (global
            self-attention, O(n^2)). Default: ``'pssa'``.
        directions (int): PSSA shift directions, 4 (up/down/left/right) or 8 (plus diagonals).
            Default: 8.
        shifts (Sequence[int], optional): PSSA shift lengths L in pixels. None means
            ``(dilation,)``. Default: None.
        product (str): PSSA product, ``'channel'`` (element-wise) or ``'sum'`` (summed over the
            channels of each head, scaled by ``1/sqrt(channels per head)``). Default: ``'channel'``.
        normalize (str): PSSA normalisation of the products: ``'none'`` (the products are the
            response), ``'softmax'`` (over the offsets; weights the shifted values) or
            ``'sigmoid'`` (gates the shifted values). Default: ``'none'``.
        heads (int): Heads of SA and of PSSA with ``product='sum'``. Default: 1.
        qk_channels (int, optional): SA query/key channels (all heads). None means
            ``in_channels``. Default: None.
        stride_mode (str): How the attention branch follows ``stride > 1``: ``'subsample'`` or
            ``'avgpool'`` (see module docstring). Default: ``'subsample'``.
        conv_norm (bool): Whether the conv branch has its own BN (paper). Default: True.
        zero_init_attention (bool): Initialise the attention BN's weight to 0, so that the layer
            starts as its conv branch (useful with a pretrained conv). Default: False.
        norm_layer (callable): ``norm_layer(out_channels)`` builds the branch norms (BN_c and
            BN_a); they must fold (BatchNorm with running statistics) for
            :meth:`switch_to_deploy`. OpenMMLab configs give ``norm_cfg`` to the registered
            adapter instead. Default: ``nn.BatchNorm2d``.
        deploy (bool): Build the deploy form directly (to load a converted checkpoint).
            Default: False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 padding: int = 1,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = False,
                 attention: str = 'pssa',
                 directions: int = 8,
                 shifts: Optional[Sequence[int]] = None,
                 product: str = 'channel',
                 normalize: str = 'none',
                 heads: int = 1,
                 qk_channels: Optional[int] = None,
                 stride_mode: str = 'subsample',
                 conv_norm: bool = True,
                 zero_init_attention: bool = False,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
                 deploy: bool = False) -> None:
        super().__init__()
        kernel_size, stride, padding, dilation = (
            _single(kernel_size, 'kernel_size'), _single(stride, 'stride'),
            _single(padding, 'padding'), _single(dilation, 'dilation'))
        shifts = (dilation, ) if shifts is None else tuple(int(s) for s in shifts)
        qk_channels = in_channels if qk_channels is None else qk_channels
        self._check_args(in_channels, kernel_size, stride, padding, dilation, attention,
                         directions, shifts, product, normalize, heads, qk_channels, stride_mode)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.attention = attention
        self.directions = directions
        self.shifts = shifts
        self.product = product
        self.normalize = normalize
        self.heads = heads
        self.qk_channels = qk_channels
        self.stride_mode = stride_mode
        # (dy, dx) per offset, shift length outermost: offset_weight[i] belongs to offsets[i].
        self.offsets: List[Tuple[int, int]] = [(length * dy, length * dx) for length in shifts
                                               for dy, dx in _DIRECTIONS[directions]]
        self.deploy = deploy

        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                              groups, bias=bias)
        self.conv_norm = norm_layer(out_channels) if conv_norm else None
        if attention == 'sa':
            self.query = nn.Conv2d(in_channels, qk_channels, 1, bias=False)
            self.key = nn.Conv2d(in_channels, qk_channels, 1, bias=False)
        else:
            # Per-offset, per-channel aggregation weights; 1 = the paper's plain sum over offsets.
            self.offset_weight = nn.Parameter(torch.ones(len(self.offsets), in_channels))
        self.project = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.attention_norm = norm_layer(out_channels)
        if zero_init_attention:
            nn.init.zeros_(self.attention_norm.weight)
        if deploy:
            self._build_deploy_form()

    @staticmethod
    def _check_args(in_channels, kernel_size, stride, padding, dilation, attention, directions,
                    shifts, product, normalize, heads, qk_channels, stride_mode) -> None:
        name = 'XVolution'
        if attention not in _ATTENTIONS:
            raise ValueError(f"{name}: attention ('{attention}') must be one of {_ATTENTIONS}")
        if kernel_size % 2 == 0:
            raise ValueError(f'{name}: kernel_size ({kernel_size}) must be odd')
        if padding != dilation * (kernel_size - 1) // 2:
            raise ValueError(
                f'{name}: padding ({padding}) must be dilation * (kernel_size - 1) // 2 = '
                f'{dilation * (kernel_size - 1) // 2} so that the conv and attention branches '
                'give the same output grid')
        if stride < 1:
            raise ValueError(f'{name}: stride ({stride}) must be >= 1')
        if directions not in _DIRECTIONS:
            raise ValueError(f'{name}: directions ({directions}) must be 4 or 8')
        if not shifts or any(s < 1 for s in shifts) or len(set(shifts)) != len(shifts):
            raise ValueError(f'{name}: shifts ({shifts}) must be distinct positive lengths')
        if product not in _PRODUCTS:
            raise ValueError(f"{name}: product ('{product}') must be one of {_PRODUCTS}")
        if normalize not in _NORMALIZES:
            raise ValueError(f"{name}: normalize ('{normalize}') must be one of {_NORMALIZES}")
        if stride_mode not in _STRIDE_MODES:
            raise ValueError(
                f"{name}: stride_mode ('{stride_mode}') must be one of {_STRIDE_MODES}")
        if heads < 1 or in_channels % heads != 0:
            raise ValueError(f'{name}: in_channels ({in_channels}) must be divisible by heads '
                             f'({heads})')
        if attention == 'sa' and qk_channels % heads != 0:
            raise ValueError(f'{name}: qk_channels ({qk_channels}) must be divisible by heads '
                             f'({heads})')

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'XVolution: expected input of shape (B, {self.in_channels}, H, W), '
                             f'got {tuple(x.shape)}')
        conv_out = self.conv(x)
        if self.conv_norm is not None:
            conv_out = self.conv_norm(conv_out)
        attention_out = self.project(self._attend(x))
        if not self.deploy:
            attention_out = self.attention_norm(attention_out)
        return conv_out + attention_out

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        """Attention response before the output projection: B, C_in, H_out, W_out."""
        subsample = self.stride if self.stride_mode == 'subsample' else 1
        if self.attention == 'sa':
            response = self._self_attention(x, subsample)
        elif self.deploy and hasattr(self, 'neighbour_convs'):
            neighbours = sum(conv(x) for conv in self.neighbour_convs)
            response = x[..., ::subsample, ::subsample] * neighbours
        elif self._is_linear_pssa():
            response = self._linear_pixel_shift_attention(x, subsample)
        else:
            response = self._pixel_shift_attention(x, subsample)
        if self.stride_mode == 'avgpool' and self.stride > 1:
            footprint = self.dilation * (self.kernel_size - 1) + 1
            response = F.avg_pool2d(response, footprint, self.stride, self.padding)
        return response

    def _self_attention(self, x: torch.Tensor, subsample: int) -> torch.Tensor:
        batch, channels, height, width = x.shape
        query = self.query(x[..., ::subsample, ::subsample])  # B, qk, Hq, Wq
        key = self.key(x)  # B, qk, H, W
        out_h, out_w = query.shape[-2:]
        heads = self.heads
        query = query.reshape(batch, heads, -1, out_h * out_w).transpose(-1, -2)  # B, h, Nq, dk
        key = key.reshape(batch, heads, -1, height * width).transpose(-1, -2)  # B, h, N, dk
        value = x.reshape(batch, heads, -1, height * width).transpose(-1, -2)  # B, h, N, C/h
        # Scaled dot product over all N positions (memory-efficient kernels where available).
        out = F.scaled_dot_product_attention(query, key, value)  # B, h, Nq, C/h
        return out.transpose(-1, -2).reshape(batch, channels, out_h, out_w)

    def _shifted(self, x: torch.Tensor, subsample: int) -> List[torch.Tensor]:
        """``x(p + o)`` for every offset o at the query positions p, zeros outside the image."""
        height, width = x.shape[-2:]
        pad = max(self.shifts)
        padded = F.pad(x, [pad] * 4)
        return [padded[..., pad + dy:pad + dy + height:subsample,
                       pad + dx:pad + dx + width:subsample] for dy, dx in self.offsets]

    def _pixel_shift_attention(self, x: torch.Tensor, subsample: int) -> torch.Tensor:
        query = x[..., ::subsample, ::subsample]  # B, C, Hq, Wq
        shifted = self._shifted(x, subsample)  # D x (B, C, Hq, Wq)
        batch, channels, out_h, out_w = query.shape
        if self.product == 'channel':
            logits = [query * s for s in shifted]  # D x (B, C, Hq, Wq)
        else:
            per_head = (batch, self.heads, channels // self.heads, out_h, out_w)
            scale = 1.0 / math.sqrt(channels // self.heads)
            # D x (B, h, 1, Hq, Wq), broadcast over the head's channels below.
            logits = [(query * s).reshape(per_head).sum(2, keepdim=True) * scale
                      for s in shifted]
        if self.normalize == 'none' and self.product == 'channel':
            responses = logits
        elif self.normalize == 'none':
            responses = [logit.expand(per_head).reshape_as(query) for logit in logits]
        else:
            stacked = torch.stack(logits)  # D, B, (C | h, 1), Hq, Wq
            # fp32 normalisation: the products are quadratic in x and overflow fp16 sooner.
            if self.normalize == 'softmax':
                weights = stacked.float().softmax(0).to(x.dtype)
            else:
                weights = stacked.float().sigmoid().to(x.dtype)
            if self.product == 'sum':
                weights = weights.expand(-1, *per_head).reshape(len(shifted), *query.shape)
            responses = [w * s for w, s in zip(weights, shifted)]
        offset_weight = self.offset_weight.to(x.dtype)
        out = responses[0] * offset_weight[0].reshape(1, -1, 1, 1)
        for weight, response in zip(offset_weight[1:], responses[1:]):
            out = out + weight.reshape(1, -1, 1, 1) * response
        return out

    def _is_linear_pssa(self) -> bool:
        return (self.attention == 'pssa' and self.product == 'channel'
                and self.normalize == 'none')

    def _linear_pixel_shift_attention(self, x: torch.Tensor, subsample: int) -> torch.Tensor:
        # sum_o w_o * x(p) * x(p + o) = x(p) * sum_L depthwise_L(x)(p): the D shift-product
        # branches are one dilated depthwise 3x3 conv per shift length L (same values and
        # gradients as the explicit shifts of _pixel_shift_attention, without D copies).
        neighbours = sum(
            F.conv2d(x, kernel.to(x.dtype), None, subsample, length, length, self.in_channels)
            for kernel, length in zip(self._neighbour_kernels(), self.shifts))
        return x[..., ::subsample, ::subsample] * neighbours

    def _neighbour_kernels(self) -> List[torch.Tensor]:
        """One depthwise (C, 1, 3, 3) kernel per shift length, holding ``offset_weight``."""
        kernels = []
        for length in self.shifts:
            # D x 9 scatter of offsets onto the taps of a 3x3 kernel dilated by L (centre: 0).
            scatter = torch.zeros(len(self.offsets), 9, device=self.offset_weight.device,
                                  dtype=self.offset_weight.dtype)
            for index, (dy, dx) in enumerate(self.offsets):
                if max(abs(dy), abs(dx)) == length:
                    scatter[index, (1 + dy // length) * 3 + 1 + dx // length] = 1
            kernel = scatter.t() @ self.offset_weight  # 9, C
            kernels.append(kernel.t().reshape(self.in_channels, 1, 3, 3))
        return kernels

    # ------------------------------------------------------------------ deploy

    def _convert_to_deploy(self) -> None:
        """Fold both BNs, merge the static conv branch into one kxk conv, keep the dynamic part."""
        # Both folds (each raises TypeError for a norm that cannot fold) come before the first
        # change to the module, so a refused conversion leaves the training form intact.
        attention_scale, attention_shift = bn_scale_shift(self.attention_norm)
        conv = (fuse_conv_bn(self.conv, self.conv_norm) if self.conv_norm is not None else
                _with_bias(self.conv))
        conv.bias.add_(attention_shift)
        project = nn.Conv2d(self.in_channels, self.out_channels, 1, bias=False).to(
            self.project.weight.device, self.project.weight.dtype)
        project.weight.copy_(self.project.weight * attention_scale.reshape(-1, 1, 1, 1))
        kernels = self._neighbour_kernels() if self._is_linear_pssa() else []

        self._build_deploy_form()
        self.conv, self.project = conv, project
        for neighbour_conv, kernel in zip(getattr(self, 'neighbour_convs', []), kernels):
            neighbour_conv.weight.copy_(kernel)

    def _build_deploy_form(self) -> None:
        """Replace the training branches by the (uninitialised) deploy-form modules."""
        del self.conv_norm, self.attention_norm
        self.conv_norm = None
        old = self.conv
        self.conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                              self.padding, self.dilation, old.groups, bias=True).to(
                                  old.weight.device, old.weight.dtype)
        if self._is_linear_pssa():
            del self.offset_weight
            subsample = self.stride if self.stride_mode == 'subsample' else 1
            self.neighbour_convs = nn.ModuleList(
                nn.Conv2d(self.in_channels, self.in_channels, 3, subsample, length, length,
                          groups=self.in_channels, bias=False).to(old.weight.device,
                                                                  old.weight.dtype)
                for length in self.shifts)

    # ------------------------------------------------------------------ checkpoints

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # A plain conv checkpoint (e.g. ImageNet ResNet's conv2.weight) goes into the conv branch;
        # every other weight of this layer is new and is reported as missing by the loader.
        moved = []
        for name in ('weight', 'bias'):
            if prefix + name in state_dict and prefix + 'conv.' + name not in state_dict:
                state_dict[prefix + 'conv.' + name] = state_dict.pop(prefix + name)
                moved.append(name)
        if moved:
            new = [prefix + key for key in self.state_dict() if not key.startswith('conv.')]
            _LOGGER.info('XVolution %s: loaded a plain conv %s into the conv branch; new weights: '
                         '%s', prefix.rstrip('.'), '/'.join(moved), ', '.join(new))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        text = (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, dilation={self.dilation}, attention={self.attention!r}')
        if self.attention == 'pssa':
            text += (f', directions={self.directions}, shifts={self.shifts}, '
                     f'product={self.product!r}, normalize={self.normalize!r}')
        return text + (f', heads={self.heads}, stride_mode={self.stride_mode!r}, '
                       f'deploy={self.deploy}')


def _single(value, name: str) -> int:
    """Accept ``k`` or a square ``(k, k)`` (what ``nn.Conv2d``'s callers may pass)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f'XVolution: {name} ({value}) must be an int or a square pair')
        value = value[0]
    return int(value)


@torch.no_grad()
def _with_bias(conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of ``conv`` with a (possibly zero) bias."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True).to(
                          conv.weight.device, conv.weight.dtype)
    fused.weight.copy_(conv.weight)
    fused.bias.copy_(conv.bias if conv.bias is not None else torch.zeros_like(fused.bias))
    return fused
