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

from .deploy import switch_to_deploy

__all__ = ['TensorForward', 'export_onnx', 'check_onnx']


class TensorForward(nn.Module):
    """Wrap a segmentor / detector so that ``forward(image)`` returns only tensors."""

    def __init__(self, model: nn.Module, scope: str) -> None:
        super().__init__()
        self.model = model
        self.scope = scope

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.scope == 'mmseg':
            return (self.model._forward(image), )
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
    """Max abs difference between onnxruntime and PyTorch outputs, one value per input shape."""
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    wrapper = TensorForward(model, scope).eval()
    diffs = []
    for shape in shapes:
        image = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = wrapper(image)
        got = session.run(None, {'image': image.numpy()})
        diffs.append(max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected)))
    return diffs
