"""Structural re-parameterisation: BN folding and the deploy contract of every operator.

Plain PyTorch. One contract for every module that has a cheaper inference form (mmpretrain's,
as in its RepVGG / LeViT):

* a ``deploy=False`` constructor argument; ``deploy=True`` builds the inference form directly, so
  a checkpoint written after ``switch_to_deploy()`` loads into a model (or config) built with
  ``deploy=True``;
* ``switch_to_deploy()`` converts in place, is idempotent and refuses training mode (BatchNorm
  running statistics are folded into weights);
* ``module.deploy`` says which form the module is in, and nothing else.

:class:`Reparameterizable` implements the contract; subclasses write ``_convert_to_deploy()``.
``fuse_conv_bn`` / ``fuse_linear_bn`` fold an eval-mode BatchNorm into the layer before it and
return a *new* layer (the inputs are left untouched, as timm's ``fuse()`` does).
``switch_to_deploy(model)`` converts every re-parameterisable sub-module of a model.
"""
from typing import Tuple

import torch
from torch import nn

__all__ = [
    'Reparameterizable', 'bn_scale_shift', 'foldable_norm', 'fuse_conv_bn', 'fuse_linear_bn',
    'switch_to_deploy'
]

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)


def foldable_norm(norm: nn.Module) -> bool:
    """Whether ``norm`` folds into the layer before it: a BatchNorm with running statistics."""
    return (isinstance(norm, _BN_TYPES) and norm.running_mean is not None
            and norm.running_var is not None)


def bn_scale_shift(bn: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(x) == x * scale + shift`` in eval mode.

    Raises:
        TypeError: ``bn`` is not a BatchNorm with running statistics, i.e. it cannot be folded
            (GroupNorm, LayerNorm, ``track_running_stats=False``). Replacing such a norm by an
            identity would change the outputs, so we refuse.
    """
    if not foldable_norm(bn):
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


class Reparameterizable(nn.Module):
    """Base of the modules with a training form and a re-parameterised deploy form.

    Subclasses set ``self.deploy`` in their constructor (from their ``deploy`` argument) and
    implement ``_convert_to_deploy()``, which replaces the training form by the deploy form;
    they may override ``_check_deployable()`` to refuse before anything changes.
    """

    deploy: bool = False

    def _check_deployable(self) -> None:
        """Raise if the conversion cannot be done; called before anything is changed."""

    def _convert_to_deploy(self) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Convert to the deploy form in place; a no-op when already converted.

        Raises:
            RuntimeError: the module is in training mode.
            TypeError: a norm cannot be folded; nothing is changed then.
        """
        if self.deploy:
            return
        if self.training:
            raise RuntimeError(f'{type(self).__name__}.switch_to_deploy() needs eval mode (call '
                               '.eval() first): BatchNorm running statistics are folded into '
                               'the weights.')
        self._check_deployable()
        self._convert_to_deploy()
        self.deploy = True


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
