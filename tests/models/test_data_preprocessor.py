"""StridePadSegDataPreProcessor: test inputs padded to stride * k + 1, recorded for the crop."""
import pytest
import torch
from mmseg.models import SegDataPreProcessor
from mmseg.structures import SegDataSample

from mmattn.models.data_preprocessor import StridePadSegDataPreProcessor


def _test_batch(height, width, count=1):
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    samples = [SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width)))
               for _ in range(count)]
    return dict(inputs=[image] * count, data_samples=samples)


@pytest.mark.parametrize('size, padded', [
    ((9, 17), (9, 17)),  # already 8k + 1: left as it is
    ((10, 16), (17, 17)),
    ((8, 1), (9, 1)),
])
def test_test_batch_is_padded_to_the_next_8k_plus_1_and_the_padding_is_recorded(size, padded):
    preprocessor = StridePadSegDataPreProcessor(test_stride=8, mean=[1.0] * 3, std=[2.0] * 3,
                                                pad_val=-7.0)
    data = preprocessor(_test_batch(*size, count=2), False)
    inputs = data['inputs']
    assert inputs.shape == (2, 3, *padded)
    plain = SegDataPreProcessor(mean=[1.0] * 3, std=[2.0] * 3)  # mmseg's, no test padding
    unpadded = plain(_test_batch(*size, count=2), False)['inputs']
    assert torch.equal(inputs[..., :size[0], :size[1]], unpadded)
    assert torch.all(inputs[..., size[0]:, :] == -7.0) and torch.all(inputs[..., size[1]:] == -7.0)
    for sample in data['data_samples']:
        assert sample.img_padding_size == [0, padded[1] - size[1], 0, padded[0] - size[0]]
        assert tuple(sample.pad_shape) == padded


def test_the_stride_sets_the_test_size():
    data = StridePadSegDataPreProcessor(test_stride=4)(_test_batch(6, 14), False)
    assert data['inputs'].shape[-2:] == (9, 17)


@pytest.mark.parametrize('stride', [0, -8, 8.0, True, None])
def test_a_stride_that_is_not_a_positive_int_is_refused_naming_it(stride):
    with pytest.raises(ValueError) as error:
        StridePadSegDataPreProcessor(test_stride=stride)
    assert 'test_stride' in str(error.value) and repr(stride) in str(error.value)


def test_padding_to_a_multiple_as_well_is_refused_naming_test_cfg():
    with pytest.raises(ValueError) as error:
        StridePadSegDataPreProcessor(test_stride=8, test_cfg=dict(size_divisor=32))
    assert 'test_cfg' in str(error.value) and 'size_divisor' in str(error.value)


def test_a_test_batch_without_data_samples_is_refused_naming_them():
    batch = _test_batch(10, 16)
    batch['data_samples'] = None
    with pytest.raises(ValueError) as error:
        StridePadSegDataPreProcessor(test_stride=8)(batch, False)
    assert 'data_samples=None' in str(error.value)
