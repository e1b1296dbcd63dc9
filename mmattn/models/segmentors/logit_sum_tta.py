"""Multi-scale + flip test on the network input with summed logits (the official EANet test).

mmseg's ``SegTTAModel`` resizes the uint8 image in the data pipeline (OpenCV) and averages the
softmax of each augmentation. The authors' ``test_torch.py`` (MenghaoGuo/EANet), like other
DeepLab-style code bases, does it on the normalised tensor instead, for every scale ``s`` and
both flips (flip first, then resize):

    x_s = resize(flip(x), (int(s * H), int(s * W)), bilinear, align_corners=True)
    x_s padded with 0 at the bottom and right to a size of ``pad_divisor * k + 1``
    logits_s = model(x_s)[:, :, :int(s * H), :int(s * W)], resized to (H, W) (align_corners=True)
    prediction = argmax over classes of sum_{s, flip} flip(logits_s)

:class:`LogitSumTTAModel` reproduces that sequence of operations exactly, so ``tools/test.py
CONFIG CKPT --tta`` on a converted official checkpoint gives the official predictions. Its
``tta_pipeline`` is a plain test pipeline (no ``TestTimeAug``, no ``Resize``): the scales and
flips are applied here. Padding the data preprocessor adds at test time (mmseg's ``test_cfg``,
:class:`~mmattn.models.data_preprocessor.StridePadSegDataPreProcessor`) is cropped off first,
since the official loop scales the image itself.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseTTAModel

from mmattn.models.data_preprocessor import pad_to_stride_plus_one
from mmattn.registry import register_model

__all__ = ['LogitSumTTAModel']


@register_model()
class LogitSumTTAModel(BaseTTAModel):
    """Test-time multi-scale + flip on the normalised input, logits summed.

    Args:
        module (dict | nn.Module): the segmentor (mmseg ``EncoderDecoder``).
        scales (sequence of float): input scales. Default: the official ``TEST_SCALES``
            (0.5, 0.75, 1.0, 1.25, 1.5, 1.75).
        flip (bool): add the horizontally flipped image at every scale. Default: True.
        pad_divisor (int | None): pad each scaled input to ``pad_divisor * k + 1`` pixels (the
            official ``pad_inf`` with the output stride 8); None: no padding. Default: 8.
    """

    def __init__(self, module, scales: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75),
                 flip: bool = True, pad_divisor: int = 8, **kwargs) -> None:
        super().__init__(module, **kwargs)
        if not scales or any(not isinstance(s, (int, float)) or s <= 0 for s in scales):
            raise ValueError(f'LogitSumTTAModel: scales must be positive numbers, got {scales}')
        if pad_divisor is not None and (not isinstance(pad_divisor, int) or pad_divisor < 1):
            raise ValueError('LogitSumTTAModel: pad_divisor must be a positive int or None, got '
                             f'{pad_divisor!r}')
        self.scales = tuple(scales)
        self.flip = flip
        self.pad_divisor = pad_divisor

    def _pad(self, image: torch.Tensor) -> torch.Tensor:
        """Zero-pad (B, C, h, w) at the bottom / right to ``pad_divisor * k + 1``."""
        if self.pad_divisor is None:
            return image
        return pad_to_stride_plus_one(image, self.pad_divisor)[0]

    def aug_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Summed logits of every scale and flip: (B, 3, H, W) -> (B, classes, H, W).

        ``inputs`` is the normalised batch the data preprocessor returns.
        """
        height, width = inputs.shape[-2:]
        total = None
        for flip in ((False, True) if self.flip else (False, )):
            image = inputs.flip(-1) if flip else inputs
            for scale in self.scales:
                size = (int(scale * height), int(scale * width))  # truncation, as the official
                scaled = self._pad(
                    F.interpolate(image, size=size, mode='bilinear', align_corners=True))
                metas = [dict(img_shape=tuple(scaled.shape[-2:]),
                              pad_shape=tuple(scaled.shape[-2:]))] * len(inputs)
                logits = self.module.encode_decode(scaled, metas)[..., :size[0], :size[1]]
                logits = F.interpolate(logits, size=(height, width), mode='bilinear',
                                       align_corners=True)
                logits = logits.flip(-1) if flip else logits
                total = logits if total is None else total + logits
        return total

    def test_step(self, data):
        """Predict a batch from a plain test pipeline; returns the module's data samples."""
        inputs = data['inputs'] if isinstance(data, dict) else None
        if not inputs or isinstance(inputs[0], (list, tuple)):
            raise ValueError('LogitSumTTAModel applies the scales and flips itself: its '
                             'tta_pipeline must be a plain test pipeline (LoadImageFromFile, '
                             '[LoadAnnotations,] PackSegInputs), without TestTimeAug')
        data = self.module.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        # The preprocessor pads a test batch as one tensor (its images share one size), so
        # every sample records the same padding: (left, right, top, bottom).
        meta = samples[0].metainfo if samples else {}
        left, right, top, bottom = meta.get('img_padding_size', (0, 0, 0, 0))
        height, width = inputs.shape[-2:]
        inputs = inputs[..., top:height - bottom, left:width - right]
        for sample in samples or ():
            sample.set_metainfo(dict(img_padding_size=[0, 0, 0, 0],
                                     pad_shape=tuple(inputs.shape[-2:])))
        return self.module.postprocess_result(self.aug_logits(inputs), samples)

    def merge_preds(self, data_samples_list):
        """Not used: :meth:`test_step` merges the augmentations on the logits."""
        raise NotImplementedError('LogitSumTTAModel merges in test_step')
