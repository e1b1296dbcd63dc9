"""Re-parameterisation helpers shared by every operator (plain PyTorch).

``fuse_conv_bn`` / ``fuse_linear_bn`` fold an eval-mode BatchNorm into the layer before it and
return a *new* layer (the inputs are left untouched, as timm's ``fuse()`` does).
``switch_to_deploy(model)`` calls ``switch_to_deploy()`` on every sub-module that defines it
(mmpretrain's convention): X-volution, LeViT and whatever comes next.
"""
from typing import Tuple

import torch
from torch import nn

__all__ = ['bn_scale_shift', 'fuse_conv_bn', 'fuse_linear_bn', 'switch_to_deploy']

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)


def bn_scale_shift(bn: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(x) == x * scale + shift`` in eval mode.

    Raises:
        TypeError: ``bn`` is not a BatchNorm with running statistics, i.e. it cannot be folded
            (GroupNorm, LayerNorm, ``track_running_stats=False``). Replacing such a norm by an
            identity would change the outputs, so we refuse.
    """
    if not isinstance(bn, _BN_TYPES) or bn.running_mean is None or bn.running_var is None:
        raise TypeError(
            f'cannot fold {type(bn).__name__} into the preceding layer: only BatchNorm with '
            'running statistics folds (use BN/SyncBN with track_running_stats=True, or keep '
            'the model in its training form).')
    std = torch.sqrt(bn.running_var + bn.eps)
    weight = bn.weight if bn.affine else torch.ones_like(std)
    bias = bn.bias if bn.affine else torch.zeros_like(std)
    scale = weight / std
    return scale, bias - bn.running_mean * scale


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    """A new ``nn.Conv2d`` equal to ``bn(conv(x))`` in eval mode (``bn`` acts on conv's output)."""
    scale, shift = bn_scale_shift(bn)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True,
                      padding_mode=conv.padding_mode).to(conv.weight.device, conv.weight.dtype)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    fused.bias.copy_(bias * scale + shift)
    return fused


@torch.no_grad()
def fuse_linear_bn(linear: nn.Linear, bn: nn.Module) -> nn.Linear:
    """A new ``nn.Linear`` equal to ``bn(linear(x))`` in eval mode (BN over output features)."""
    scale, shift = bn_scale_shift(bn)
    fused = nn.Linear(linear.in_features, linear.out_features, bias=True).to(
        linear.weight.device, linear.weight.dtype)
    fused.weight.copy_(linear.weight * scale[:, None])
    bias = linear.bias if linear.bias is not None else torch.zeros_like(shift)
    fused.bias.copy_(bias * scale + shift)
    return fused


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Convert every re-parameterisable sub-module of ``model`` to its deploy form, in place.

    Modules opt in by defining ``switch_to_deploy()``; the outermost one found on a branch is
    called and is responsible for its own children, so nothing is converted twice.
    The model must be in eval mode (BN statistics are frozen into the weights).

    Returns:
        The same ``model``, for chaining.
    """
    if model.training:
        raise RuntimeError('switch_to_deploy(model) needs the model in eval mode (call '
                           'model.eval() first): BatchNorm statistics are folded into weights.')
    if callable(getattr(model, 'switch_to_deploy', None)):
        model.switch_to_deploy()
    else:
        _convert(model)
    return model


def _convert(module: nn.Module) -> None:
    for child in module.children():
        if callable(getattr(child, 'switch_to_deploy', None)):
            child.switch_to_deploy()
        else:
            _convert(child)
