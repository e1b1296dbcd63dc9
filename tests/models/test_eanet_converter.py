"""The authors' EANet (MenghaoGuo/EANet model_torch.py) in mmseg: converter and logit parity.

``OfficialEANet`` below is our own re-implementation of the official forward, written from the
official code's structure (module names, dilation rule, head, final upsampling); its state dict
has the official key names, so it stands in for the released checkpoint. Random weights and
random BN statistics make every layer matter.
"""
import functools

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

import mmattn  # noqa: F401  (registers EAHead)
from conftest import REPO
from mmattn.models.converters.eanet import (convert_eanet, convert_resnet_deep_stem,
                                            load_eanet_checkpoint)
from mmattn.models.segmentors import LogitSumTTAModel

OFFICIAL_CONFIG = f'{REPO}/configs/eanet_r101_voc12aug_official.py'
BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
RGB_MEAN, RGB_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # official settings.py


# ---- the official model, re-implemented (official key names) --------------------------------

class _Bottleneck(nn.Module):
    """torchvision-style bottleneck: stride and dilation in the 3x3 conv, BN eps 1e-5."""

    def __init__(self, inplanes, planes, stride, dilation, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def _stage(inplanes, planes, blocks, stride=1, dilation=1, grids=None):
    """The official _make_layer: the first block runs at dilation 1 (stage dilation 1 or 2) or
    2 (stage dilation 4); block i > 0 at dilation * grids[i]."""
    grids = grids or [1] * blocks
    first = {1: 1, 2: 1, 4: 2}[dilation]
    downsample = None
    if stride != 1 or inplanes != planes * 4:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                   nn.BatchNorm2d(planes * 4))
    layers = [_Bottleneck(inplanes, planes, stride, first, downsample)]
    layers += [_Bottleneck(planes * 4, planes, 1, dilation * grids[i]) for i in range(1, blocks)]
    return nn.Sequential(*layers)


class _ConvBNReLU(nn.Module):

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class _ExternalAttention(nn.Module):
    """linu: conv1 (bias) -> linear_0 -> softmax over pixels -> / (1e-9 + sum over units)
    -> linear_1 -> conv2 (conv + BN) -> + input -> ReLU."""

    def __init__(self, c, k=64):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 1)
        self.linear_0 = nn.Conv1d(c, k, 1, bias=False)
        self.linear_1 = nn.Conv1d(k, c, 1, bias=False)
        self.conv2 = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        b, c, h, w = x.shape
        attn = self.linear_0(self.conv1(x).reshape(b, c, h * w)).softmax(dim=-1)
        attn = attn / (1e-9 + attn.sum(dim=1, keepdim=True))
        out = self.conv2(self.linear_1(attn).reshape(b, c, h, w))
        return F.relu(out + x)


class OfficialEANet(nn.Module):
    """model_torch.EANet with settings.STRIDE = 8: extractor, fc0, linu, fc1, fc2."""

    def __init__(self, num_classes=21, depth=101):
        super().__init__()
        blocks = BLOCKS[depth]
        stem = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, 1, 1, bias=False))
        self.extractor = nn.Sequential(
            stem, nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
            _stage(128, 64, blocks[0]),
            _stage(256, 128, blocks[1], stride=2),
            _stage(512, 256, blocks[2], dilation=2),
            _stage(1024, 512, blocks[3], dilation=4, grids=[1, 2, 4]))
        self.fc0 = _ConvBNReLU(2048, 512)
        self.linu = _ExternalAttention(512)
        self.fc1 = nn.Sequential(_ConvBNReLU(512, 256), nn.Dropout2d(0.1))
        self.fc2 = nn.Conv2d(256, num_classes, 1)

    def forward(self, img):
        x = self.fc2(self.fc1(self.linu(self.fc0(self.extractor(img)))))
        return F.interpolate(x, size=img.shape[-2:], mode='bilinear', align_corners=True)


@torch.no_grad()
def _randomise(model, seed=0):
    """Random weights at a scale that keeps 100+ layers finite, random BN statistics/affines."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / fan_in**0.5)
            if module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        elif isinstance(module, nn.BatchNorm2d):
            shape = module.weight.shape
            module.weight.copy_(torch.rand(shape, generator=gen) * 0.5 + 0.5)
            module.bias.copy_(torch.randn(shape, generator=gen) * 0.1)
            module.running_mean.copy_(torch.randn(shape, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(shape, generator=gen) + 0.5)
            module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=gen)))
    return model.eval()


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
    official = _randomise(OfficialEANet(depth=depth))
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
    official = ((rgb.float() / 255 - torch.tensor(RGB_MEAN)) / torch.tensor(RGB_STD))
    official = official.permute(2, 0, 1)
    bgr = rgb.flip(-1).permute(2, 0, 1).to(torch.uint8)
    sample = SegDataSample(metainfo=dict(img_shape=(23, 31), ori_shape=(23, 31)))
    data = ours.data_preprocessor(dict(inputs=[bgr], data_samples=[sample]), False)
    torch.testing.assert_close(data['inputs'][0], official, rtol=0, atol=1e-5)


# ---- the official multi-scale + flip test -------------------------------------------------------

def _official_test(model, image, scales=(0.5, 0.75, 1.0, 1.25, 1.5, 1.75)):
    """test_torch.py's loop on a normalised (1, 3, H, W) image: summed logits."""
    _, _, h, w = image.shape
    total = torch.zeros(1, 21, h, w)
    for flip in (False, True):
        source = image.flip(3) if flip else image
        for scale in scales:
            sh, sw = int(scale * h), int(scale * w)
            scaled = F.interpolate(source, size=(sh, sw), mode='bilinear', align_corners=True)
            pad_h, pad_w = (9 - sh % 8) % 8, (9 - sw % 8) % 8  # to 8k + 1
            logit = model(F.pad(scaled, (0, pad_w, 0, pad_h)))[:, :, :sh, :sw]
            logit = F.interpolate(logit, size=(h, w), mode='bilinear', align_corners=True)
            total += logit.flip(3) if flip else logit
    return total


def test_tta_model_reproduces_the_official_multi_scale_flip_test():
    official, ours = _pair(depth=50)  # the protocol, not the depth, is under test here
    tta = LogitSumTTAModel(ours).eval()
    rgb = torch.randint(0, 256, (3, 27, 38), generator=torch.Generator().manual_seed(3))
    sample = SegDataSample(metainfo=dict(img_shape=(27, 38), ori_shape=(27, 38)))
    with torch.no_grad():
        (result, ) = tta.test_step(dict(inputs=[rgb.flip(0).to(torch.uint8)],
                                        data_samples=[sample]))
        normalised = (rgb.permute(1, 2, 0).float() / 255 - torch.tensor(RGB_MEAN)) / torch.tensor(
            RGB_STD)
        expected = _official_test(official, normalised.permute(2, 0, 1)[None])
    actual = result.seg_logits.data[None]
    assert (actual - expected).abs().max() <= 1e-4 * expected.abs().max()
    assert torch.equal(result.pred_sem_seg.data, expected.argmax(dim=1))


def test_tta_model_rejects_a_test_time_aug_pipeline():
    _, ours = _pair(depth=50)
    with pytest.raises(ValueError, match='without TestTimeAug'):
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
    assert torch.equal(converted['decode_head.conv_seg.bias'], official.fc2.bias)


def test_an_unknown_key_is_an_error_that_names_it():
    official, _ = _pair()
    state = dict(official.state_dict(), **{'linu.extra.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match=r'1 source keys not understood.*linu\.extra\.weight'):
        convert_eanet(state)


def test_a_missing_key_is_an_error_that_names_source_and_target():
    official, _ = _pair()
    state = dict(official.state_dict())
    del state['extractor.7.2.conv2.weight']
    with pytest.raises(KeyError, match=r'backbone\.layer4\.2\.conv2\.weight \(from '
                                       r'extractor\.7\.2\.conv2\.weight\)'):
        convert_eanet(state)


def test_a_checkpoint_of_another_depth_is_rejected():
    official, _ = _pair(depth=50)
    with pytest.raises(KeyError, match='target keys have no source'):
        convert_eanet(official.state_dict(), depth=101)


def test_imagenet_resnet_converts_for_pretrained_without_its_classifier():
    official, ours = _pair(depth=50)
    prefix = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')
    names = dict(zip(prefix, ('extractor.0.', 'extractor.1.', 'extractor.4.', 'extractor.5.',
                              'extractor.6.', 'extractor.7.')))
    imagenet = {plain + key[len(theirs):]: value for key, value in official.state_dict().items()
                for plain, theirs in names.items() if key.startswith(theirs)}
    imagenet.update({'fc.weight': torch.zeros(1000, 2048), 'fc.bias': torch.zeros(1000)})
    converted = convert_resnet_deep_stem(imagenet, depth=50)
    assert set(converted) == set(ours.backbone.state_dict())
    with pytest.raises(KeyError, match='avgpool'):
        convert_resnet_deep_stem(dict(imagenet, **{'avgpool.weight': torch.zeros(1)}), depth=50)


def test_loader_reads_the_official_file_layout(tmp_path):
    official, _ = _pair(depth=50)
    path = tmp_path / 'final.pth'
    torch.save({'net': official.state_dict(), 'step': 45000}, path)
    state, kind = load_eanet_checkpoint(str(path))
    assert kind == 'eanet' and set(state) == set(official.state_dict())
    torch.save({'something': torch.zeros(1)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='neither an official EANet'):
        load_eanet_checkpoint(str(tmp_path / 'other.pth'))
