"""Test-time padding to ``stride * k + 1`` pixels, as DeepLab-style code evaluates.

The official EANet evaluation (``eval_torch.py`` of MenghaoGuo/EANet, with the ``ValDataset``
of the EMANet ``dataset.py`` it imports) normalises each validation image, then zero-pads it at
the bottom and right to the next size of the form ``8k + 1`` (``pad_inf`` with
``settings.STRIDE = 8``) and its label with 255, predicts on the padded input and scores the
prediction against the padded label. With ``align_corners=True`` models, a ``8k + 1`` input puts
the corners of the stride-8 feature grid on input pixels, which is why the authors pad so.

mmseg's ``SegDataPreProcessor`` pads test inputs only to a multiple of ``size_divisor``
(``test_cfg``). :class:`StridePadSegDataPreProcessor` adds the ``k + 1`` form: the padding is
done after normalisation (so a padded pixel is 0 in the normalised input, as the official
``F.pad`` of the normalised tensor), and it is recorded in each sample's ``img_padding_size``
exactly as mmseg's own test padding is, so ``EncoderDecoder.postprocess_result`` crops it off
before the metric. Scoring the cropped prediction against the unpadded label is the same as
scoring the padded prediction against a label padded with the ignored 255.
"""
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.models import SegDataPreProcessor

from mmattn.registry import register_model

__all__ = ['StridePadSegDataPreProcessor', 'pad_to_stride_plus_one']


def pad_to_stride_plus_one(inputs: torch.Tensor, stride: int,
                           value: float = 0.0) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad ``(..., H, W)`` at the bottom / right to the next ``stride * k + 1`` of each side.

    The official ``pad_inf``: ``(stride + 1 - size % stride) % stride`` pixels per side, so a
    side that is already ``stride * k + 1`` is left as it is.

    Returns:
        tuple: the padded tensor and the ``(bottom, right)`` padding in pixels.
    """
    pad_h, pad_w = ((stride + 1 - size % stride) % stride for size in inputs.shape[-2:])
    if pad_h or pad_w:
        inputs = F.pad(inputs, (0, pad_w, 0, pad_h), value=value)
    return inputs, (pad_h, pad_w)


@register_model()
class StridePadSegDataPreProcessor(SegDataPreProcessor):
    """mmseg's ``SegDataPreProcessor``; at test time it pads to ``test_stride * k + 1``.

    Training is mmseg's (crops padded to ``size`` with ``pad_val`` / ``seg_pad_val``). At test
    time the normalised batch is padded at the bottom / right with ``pad_val`` to the next
    ``test_stride * k + 1`` of height and width, and each data sample records it as mmseg's
    test padding does (``img_padding_size``, ``pad_shape``), so predictions are cropped back
    to the image before they are resized to ``ori_shape`` and scored.

    Args:
        test_stride (int): the stride ``s`` of the ``s * k + 1`` test size; the official EANet
            evaluation uses the network's output stride, 8 (``settings.STRIDE``).
        **kwargs: ``SegDataPreProcessor`` arguments. Its ``test_cfg`` (padding to a multiple)
            cannot be combined with ``test_stride``.
    """

    def __init__(self, test_stride: int, **kwargs) -> None:
        if isinstance(test_stride, bool) or not isinstance(test_stride, int) or test_stride < 1:
            raise ValueError('StridePadSegDataPreProcessor: test_stride must be a positive int '
                             f'(8 for an output stride 8 network), got {test_stride!r}')
        if kwargs.get('test_cfg'):
            raise ValueError('StridePadSegDataPreProcessor: test_cfg '
                             f'{kwargs["test_cfg"]!r} would pad a second time; pad either to a '
                             'multiple (test_cfg) or to test_stride * k + 1 (test_stride)')
        super().__init__(**kwargs)
        self.test_stride = test_stride

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        data = super().forward(data, training)
        if training:
            return data
        samples: Optional[list] = data['data_samples']
        if not samples:
            raise ValueError('StridePadSegDataPreProcessor: test-time padding needs the data '
                             'samples to record it (so that the prediction is cropped back), got '
                             f'data_samples={samples!r}')
        inputs, (pad_h, pad_w) = pad_to_stride_plus_one(data['inputs'], self.test_stride,
                                                        self.pad_val)
        for sample in samples:
            # (left, right, top, bottom), the order of mmseg's stack_batch
            sample.set_metainfo(dict(img_padding_size=[0, pad_w, 0, pad_h],
                                     pad_shape=tuple(inputs.shape[-2:])))
        return dict(inputs=inputs, data_samples=samples)
