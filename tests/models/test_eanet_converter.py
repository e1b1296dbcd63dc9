"""The authors' EANet (MenghaoGuo/EANet model_torch.py) in mmseg: converter and logit parity.

The official model is our re-implementation in ``tests/official_eanet.py`` (official key names,
random weights and random BN statistics, so that every layer matters); ours is built from
``configs/eanet_r101_voc12aug_official.py`` and loaded with the converted state dict.
"""
import functools

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmattn  # noqa: F401  (registers EAHead)
from conftest import REPO
from mmattn.models.converters.eanet import (convert_eanet, convert_resnet_deep_stem,
                                            load_eanet_checkpoint)
from mmattn.models.segmentors import LogitSumTTAModel
from official_eanet import OfficialEANet, normalise, official_test, randomise
from messages import names

OFFICIAL_CONFIG = f'{REPO}/configs/eanet_r101_voc12aug_official.py'


def _with_bn(node):
    """The config with SyncBN -> BN (one process on CPU)."""
    if isinstance(node, dict):
        return {key: ('BN' if key == 'type' and value == 'SyncBN' else _with_bn(value))
                for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_with_bn(value) for value in node)
    return node


def _mmseg_model(depth=101):
    cfg = Config.fromfile(OFFICIAL_CONFIG)
    model_cfg = _with_bn(cfg.model.to_dict())
    model_cfg['backbone']['depth'] = depth
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(model_cfg).eval()


@functools.lru_cache(maxsize=None)
def _pair(depth=101):
    """(official reference with random weights, our mmseg model with the converted weights)."""
    official = randomise(OfficialEANet(depth=depth))
    ours = _mmseg_model(depth)
    ours.load_state_dict(convert_eanet(official.state_dict(), depth=depth), strict=True)
    return official, ours


def _logits(model, image):
    metas = [dict(img_shape=tuple(image.shape[-2:]), pad_shape=tuple(image.shape[-2:]))]
    return model.encode_decode(image, metas * len(image))


# ---- parity -----------------------------------------------------------------------------------

@pytest.mark.parametrize('size', [(65, 65), (57, 90)])
def test_converted_model_gives_the_official_logits(size):
    official, ours = _pair()
    image = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, actual = official(image), _logits(ours, image)
    assert actual.shape == expected.shape == (1, 21, *size)
    scale = expected.abs().max()
    assert scale > 1e-2  # the comparison is not between two near-zero maps
    assert (actual - expected).abs().max() <= 1e-4 * scale


def test_last_two_stages_have_the_official_dilation_padding_and_stride():
    official, ours = _pair()
    for stage in (3, 4):
        theirs = official.extractor[3 + stage]
        mine = getattr(ours.backbone, f'layer{stage}')
        assert len(mine) == len(theirs)
        for block_theirs, block_mine in zip(theirs, mine):
            for attr in ('dilation', 'padding', 'stride'):
                assert getattr(block_mine.conv2, attr) == getattr(block_theirs.conv2, attr)
        assert mine[0].downsample[0].stride == theirs[0].downsample[0].stride == (1, 1)
    dilations = [block.conv2.dilation[0] for block in ours.backbone.layer4]
    assert dilations == [2, 8, 16]  # multi-grid (1, 2, 4) on dilation 4, first block contracted
    assert {block.conv2.dilation[0] for block in list(ours.backbone.layer3)[1:]} == {2}
    assert ours.backbone.layer3[0].conv2.dilation == (1, 1)


def test_data_preprocessor_normalises_as_the_official_fetch():
    """Official: RGB / 255, minus the ImageNet mean, over its std; mmseg reads BGR uint8."""
    _, ours = _pair()
    rgb = torch.randint(0, 256, (23, 31, 3), generator=torch.Generator().manual_seed(2))
    bgr = rgb.flip(-1).permute(2, 0, 1).to(torch.uint8)
    sample = SegDataSample(metainfo=dict(img_shape=(23, 31), ori_shape=(23, 31)))
    data = ours.data_preprocessor(dict(inputs=[bgr], data_samples=[sample]), False)
    # (the test-time padding to 8k + 1 follows: tests/configs/test_eanet_voc_validation.py)
    torch.testing.assert_close(data['inputs'][..., :23, :31], normalise(rgb), rtol=0, atol=1e-5)


# ---- the official multi-scale + flip test -------------------------------------------------------

@pytest.mark.slow  # 24 forwards of an R50-D8 at six scales
def test_tta_model_reproduces_the_official_multi_scale_flip_test():
    official, ours = _pair(depth=50)  # the protocol, not the depth, is under test here
    tta = LogitSumTTAModel(ours).eval()
    rgb = torch.randint(0, 256, (27, 38, 3), generator=torch.Generator().manual_seed(3))
    bgr = rgb.flip(-1).permute(2, 0, 1).to(torch.uint8)
    sample = SegDataSample(metainfo=dict(img_shape=(27, 38), ori_shape=(27, 38)))
    with torch.no_grad():
        (result, ) = tta.test_step(dict(inputs=[bgr], data_samples=[sample]))
        expected = official_test(official, normalise(rgb))
    actual = result.seg_logits.data[None]
    assert (actual - expected).abs().max() <= 1e-4 * expected.abs().max()
    assert torch.equal(result.pred_sem_seg.data, expected.argmax(dim=1))


def test_tta_model_rejects_a_test_time_aug_pipeline():
    _, ours = _pair(depth=50)
    with pytest.raises(ValueError, match=names('TestTimeAug')):
        LogitSumTTAModel(ours).test_step(dict(inputs=[[torch.zeros(3, 8, 8)]],
                                              data_samples=[[SegDataSample()]]))


# ---- the key mapping ----------------------------------------------------------------------------

def test_every_key_of_the_official_r101_maps_onto_the_mmseg_model():
    official, ours = _pair()
    converted = convert_eanet(official.state_dict())
    assert set(converted) == set(ours.state_dict())
    assert len(converted) == len(official.state_dict())
    assert torch.equal(converted['decode_head.ea.memory_values.weight'],
                       official.linu.linear_1.weight)
    assert torch.equal(converted['backbone.stem.7.running_var'],
                       official.extractor[1].running_var)


def test_module_prefix_and_missing_num_batches_tracked_are_accepted():
    official, _ = _pair()
    state = {f'module.{k}': v for k, v in official.state_dict().items()
             if not k.endswith('num_batches_tracked')}
    converted = convert_eanet(state)
    assert converted['backbone.layer1.0.bn1.num_batches_tracked'] == 0
    filled, buffer = (state_dict['backbone.layer1.0.bn1.num_batches_tracked']
                      for state_dict in (converted, _pair()[1].state_dict()))
    assert (filled.dtype, filled.shape) == (buffer.dtype, buffer.shape) == (torch.long, ())
    assert torch.equal(converted['decode_head.conv_seg.bias'], official.fc2.bias)


def test_an_unknown_key_is_an_error_that_names_it():
    official, _ = _pair()
    state = dict(official.state_dict(), **{'linu.extra.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r'1 source keys not understood.*linu\.extra\.weight'):
        convert_eanet(state)


def test_a_missing_key_is_an_error_that_names_source_and_target():
    official, _ = _pair()
    state = dict(official.state_dict())
    del state['extractor.7.2.conv2.weight']
    with pytest.raises(ValueError, match=r'backbone\.layer4\.2\.conv2\.weight \(from '
                                       r'extractor\.7\.2\.conv2\.weight\)') as error:
        convert_eanet(state)
    assert 'convert it with depth' not in str(error.value)  # the stages are those of R101


def test_a_checkpoint_of_another_depth_is_rejected():
    official, _ = _pair(depth=50)
    with pytest.raises(ValueError, match=names('depth=50', 101)):
        convert_eanet(official.state_dict(), depth=101)


def _imagenet(official) -> dict:
    """The official code's ImageNet ResNet (deep stem, classifier) with the weights of official."""
    prefix = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')
    names = dict(zip(prefix, ('extractor.0.', 'extractor.1.', 'extractor.4.', 'extractor.5.',
                              'extractor.6.', 'extractor.7.')))
    imagenet = {plain + key[len(theirs):]: value for key, value in official.state_dict().items()
                for plain, theirs in names.items() if key.startswith(theirs)}
    imagenet.update({'fc.weight': torch.zeros(1000, 2048), 'fc.bias': torch.zeros(1000)})
    return imagenet


def test_imagenet_resnet_converts_for_pretrained_without_its_classifier():
    official, ours = _pair(depth=50)
    imagenet = _imagenet(official)
    converted = convert_resnet_deep_stem(imagenet, depth=50)
    assert set(converted) == set(ours.backbone.state_dict())
    with pytest.raises(ValueError, match='avgpool'):
        convert_resnet_deep_stem(dict(imagenet, **{'avgpool.weight': torch.zeros(1)}), depth=50)


def test_loader_reads_the_official_file_layout(tmp_path):
    official, _ = _pair(depth=50)
    path = tmp_path / 'final.pth'
    torch.save({'net': official.state_dict(), 'step': 45000}, path)
    state, kind = load_eanet_checkpoint(str(path))
    assert kind == 'eanet' and set(state) == set(official.state_dict())
    torch.save(_imagenet(official), tmp_path / 'resnet50.pth')
    state, kind = load_eanet_checkpoint(str(tmp_path / 'resnet50.pth'))
    assert kind == 'resnet' and 'conv1.0.weight' in state and 'fc.weight' in state
    torch.save({'something': torch.zeros(1)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match=names('other.pth')):
        load_eanet_checkpoint(str(tmp_path / 'other.pth'))


def test_imagenet_resnet_converter_defaults_to_the_official_resnet_101():
    official, ours = _pair()
    assert set(convert_resnet_deep_stem(_imagenet(official))) == set(ours.backbone.state_dict())


def test_converter_knows_the_resnet_stage_blocks_of_every_depth():
    from mmseg.models.backbones import ResNetV1c

    from mmattn.models.converters.eanet import STAGE_BLOCKS
    assert STAGE_BLOCKS == {depth: ResNetV1c.arch_settings[depth][1] for depth in (50, 101, 152)}


def test_a_depth_without_a_resnet_is_an_error_naming_it():
    with pytest.raises(ValueError, match=names('depth', 34)):
        convert_eanet({}, depth=34)


# ---- LogitSumTTAModel's options, on a recording stand-in for the segmentor ----------------------

class _RecordingSegmentor(torch.nn.Module):
    """``encode_decode`` = a fixed 3x3 conv (not flip-symmetric); records inputs and metas."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)
        self.calls = []

    def encode_decode(self, inputs, metas):
        self.calls.append((tuple(inputs.shape[-2:]), metas))
        return self.conv(inputs)

    def test_step(self, data):  # BaseTTAModel requires it; LogitSumTTAModel does not call it
        raise AssertionError('LogitSumTTAModel must not call the module\'s test_step')


def _resize(x, size):
    return torch.nn.functional.interpolate(x, size=size, mode='bilinear', align_corners=True)


def test_tta_without_flip_or_padding_sums_the_logits_of_the_unflipped_scales():
    segmentor = _RecordingSegmentor()
    tta = LogitSumTTAModel(segmentor, scales=(0.5, 1.0), flip=False, pad_divisor=None)
    x = torch.randn(1, 3, 9, 13, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        actual = tta.aug_logits(x)
        expected = sum(_resize(segmentor.conv(_resize(x, size)), (9, 13))
                       for size in ((4, 6), (9, 13)))
    torch.testing.assert_close(actual, expected)
    assert [size for size, _ in segmentor.calls] == [(4, 6), (9, 13)]  # nothing padded


def test_each_scaled_input_is_padded_to_8k_plus_1_and_its_metas_give_that_size():
    segmentor = _RecordingSegmentor()
    tta = LogitSumTTAModel(segmentor, scales=(0.5, 1.0), flip=False)
    with torch.no_grad():
        tta.aug_logits(torch.randn(2, 3, 9, 13))
    assert [size for size, _ in segmentor.calls] == [(9, 9), (9, 17)]  # from (4, 6), (9, 13)
    for size, metas in segmentor.calls:  # mmseg heads read pad_shape, or else img_shape
        assert metas == [dict(img_shape=size, pad_shape=size)] * 2


@pytest.mark.parametrize('kwargs, message', [
    (dict(scales=()), names('scales', '()')),
    (dict(scales=(1.0, 0.0)), names('scales', (1.0, 0.0))),
    (dict(scales=(1.0, -0.5)), names('scales', (1.0, -0.5))),
    (dict(scales=(1.0, '2')), names('scales', (1.0, '2'))),
    (dict(pad_divisor=0), names('pad_divisor', 0)),
    (dict(pad_divisor=8.0), names('pad_divisor', 8.0)),
])
def test_tta_model_rejects_bad_options_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogitSumTTAModel(_RecordingSegmentor(), **kwargs)


@pytest.mark.parametrize('kwargs', [dict(pad_divisor=None), dict(pad_divisor=1), dict(scales=(1, ))])
def test_tta_model_accepts_no_padding_a_divisor_of_one_and_int_scales(kwargs):
    tta = LogitSumTTAModel(_RecordingSegmentor(), **kwargs)
    expected = dict(dict(pad_divisor=8, scales=(0.5, 0.75, 1.0, 1.25, 1.5, 1.75)), **kwargs)
    assert (tta.pad_divisor, tta.scales) == (expected['pad_divisor'], expected['scales'])


def test_tta_model_merges_in_test_step_not_in_merge_preds():
    with pytest.raises(NotImplementedError, match=names('test_step')):
        LogitSumTTAModel(_RecordingSegmentor()).merge_preds([[SegDataSample()]])
