"""ONNX export of the tensor forward of an mmdet / mmseg model (``tools/deploy.py``).

What is exported is the part made of tensors in and tensors out, where mmattn's operators live:

* segmentation: image -> backbone -> (neck) -> decode head -> class logits at 1/8..1/4 scale
  (``EncoderDecoder._forward``);
* detection: image -> backbone -> neck -> the multi-scale feature maps (``extract_feat``); the
  box/mask post-processing of mmdet is not a tensor program and stays in Python (or mmdeploy).

Every re-parameterisable module is switched to its deploy form first. The graph is checked by
running it in onnxruntime against PyTorch on the same input.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from mmattn.layers import switch_to_deploy

__all__ = ['TensorForward', 'check_onnx', 'deploy_onnx', 'export_onnx']


class TensorForward(nn.Module):
    """Wrap a segmentor / detector / classifier so that ``forward(image)`` returns only tensors
    (segmentation: logits; detection: backbone + neck features; classification: class logits)."""

    def __init__(self, model: nn.Module, scope: str) -> None:
        super().__init__()
        self.model = model
        self.scope = scope

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.scope == 'mmseg':
            return (self.model._forward(image), )
        if self.scope == 'mmpretrain':
            out = self.model(image, mode='tensor')
            return (out, ) if isinstance(out, torch.Tensor) else tuple(out)
        return tuple(self.model.extract_feat(image))


def export_onnx(model: nn.Module, scope: str, out_file: str, shape: Sequence[int],
                opset: int = 17, dynamic: bool = True) -> List[str]:
    """Export ``model`` (eval, deploy form) to ``out_file``; return the output names."""
    model.eval()
    switch_to_deploy(model)
    wrapper = TensorForward(model, scope).eval()
    image = torch.randn(1, 3, *shape)
    with torch.no_grad():
        outputs = wrapper(image)
    names = [f'output_{i}' for i in range(len(outputs))]
    if dynamic:
        # TorchScript tracing keeps shape arithmetic symbolic, hence dynamic height/width.
        dynamic_axes: Dict[str, Dict[int, str]] = {'image': {2: 'height', 3: 'width'}}
        dynamic_axes.update({n: {2: f'{n}_h', 3: f'{n}_w'} for n in names})
        torch.onnx.export(wrapper, (image, ), out_file, input_names=['image'],
                          output_names=names, opset_version=opset, dynamic_axes=dynamic_axes,
                          dynamo=False)
    else:
        # torch.export specialises every shape, which adaptive pooling (PSP/UPerNet) needs;
        # that exporter starts at opset 18.
        torch.onnx.export(wrapper, (image, ), out_file, input_names=['image'],
                          output_names=names, opset_version=max(opset, 18), dynamo=True)
    return names


def check_onnx(model: nn.Module, scope: str, onnx_file: str,
               shapes: Sequence[Sequence[int]]) -> List[float]:
    """Difference of onnxruntime to PyTorch relative to the output scale, one value per shape.

    ``max |onnx - torch| / max |torch|`` for each output, the worst output counts: float32
    rounding grows with the size of the values, so an absolute bound would fail a trained
    model with large logits and pass a random one whose logits are all ~0.01.
    """
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    wrapper = TensorForward(model, scope).eval()
    diffs = []
    for shape in shapes:
        image = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = wrapper(image)
        got = session.run(None, {'image': image.numpy()})
        diffs.append(max(_relative_difference(g, e.numpy()) for g, e in zip(got, expected)))
    return diffs


def _relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    difference = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    return difference / scale if scale > 0 else difference


def deploy_onnx(model: nn.Module, scope: str, out_file: str, shape: Sequence[int],
                opset: int = 17, tolerance: float = 1e-3) -> Dict:
    """Export ``model`` in its deploy form with the most general graph that holds, and check it.

    Dynamic height/width first (checked at ``shape`` and at a second size); if that export or
    the second size fails (adaptive pooling, as in PSPNet / UPerNet heads, needs fixed sizes in
    ONNX), a fixed-size export at ``shape`` through torch.export (opset >= 18).

    ``tolerance`` bounds the difference relative to the output scale (:func:`check_onnx`).

    Returns:
        dict: ``dynamic`` (bool), ``opset`` (int), ``max_rel_diff`` (float, over the checked
        sizes, relative to the output scale), ``ok`` (max_rel_diff <= tolerance),
        ``fallback_reason`` (str, empty when the dynamic export held).
    """
    height, width = shape
    other = (height + 32, width - 32 if width > 64 else width + 32)
    reason = ''
    try:
        export_onnx(model, scope, out_file, (height, width), opset=opset, dynamic=True)
        diffs = check_onnx(model, scope, out_file, [(height, width), other])
        if diffs[1] > tolerance:
            reason = f'a second input size {other} differs by {diffs[1]:.3g}'
    except Exception as err:  # e.g. adaptive pooling (PSP/UPerNet) needs static sizes in ONNX
        reason = f'{type(err).__name__}: {str(err).splitlines()[0][:160]}'
    if reason:
        export_onnx(model, scope, out_file, (height, width), opset=opset, dynamic=False)
        diffs = check_onnx(model, scope, out_file, [(height, width)])
    worst = max(diffs)
    return dict(dynamic=not reason, opset=opset if not reason else max(opset, 18),
                max_rel_diff=worst, ok=worst <= tolerance, fallback_reason=reason)
