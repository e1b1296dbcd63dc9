"""Our re-implementation of the authors' EANet (MenghaoGuo/EANet), for the parity tests.

Written from the official code's structure (model_torch.py: module names, the dilation rule of
_make_layer, the head, the final upsampling; test_torch.py: the multi-scale + flip loop;
eval_torch.py with the EMANet dataset.py / metric.py it imports: the single-scale evaluation),
not copied from it. Its state dict has the official key names, so it stands in for the released
checkpoint; ``randomise`` gives every weight and BN statistic a random value.
"""
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
RGB_MEAN, RGB_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # official settings.py


def normalise(rgb: torch.Tensor) -> torch.Tensor:
    """test_torch.py fetch(): (H, W, 3) RGB 0-255 -> (1, 3, H, W), x / 255 - mean, over std."""
    out = (rgb.float() / 255 - torch.tensor(RGB_MEAN)) / torch.tensor(RGB_STD)
    return out.permute(2, 0, 1)[None]


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
def randomise(model, seed=0):
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


def official_test(model, image, scales=(0.5, 0.75, 1.0, 1.25, 1.5, 1.75)):
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


def official_evaluate(model, data_root, image_ids, num_classes=21, stride=8, ignore=255):
    """eval_torch.py main() on VOC val: the confusion matrix and each image's padded logits.

    Per image, as EMANet's ``ValDataset`` prepares it: the JPEG decoded by PIL as RGB and
    normalised (``fetch``), the label read from ``SegmentationClassAug/{id}.png`` as a palette
    image, both padded at the bottom / right to the next ``stride * k + 1`` (``pad_inf``: image
    with 0 after normalisation, label with ``ignore``). The model predicts on the padded image;
    ``fast_hist`` counts (label, argmax) over the pixels whose label is a class (padding and
    255 drop out). Returns ``(hist, logits)``: hist[label, prediction] summed over the images.
    """
    hist = torch.zeros(num_classes, num_classes, dtype=torch.long)
    all_logits = []
    for image_id in image_ids:
        with open(osp.join(data_root, 'JPEGImages', image_id + '.jpg'), 'rb') as file:
            rgb = torch.from_numpy(np.asarray(Image.open(file).convert('RGB')).copy())
        with open(osp.join(data_root, 'SegmentationClassAug', image_id + '.png'), 'rb') as file:
            label = torch.from_numpy(np.asarray(Image.open(file).convert('P')).astype(np.int64))
        image = normalise(rgb)
        pad_h, pad_w = ((stride + 1 - size % stride) % stride for size in image.shape[-2:])
        image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
        label = F.pad(label, (0, pad_w, 0, pad_h), value=ignore)
        with torch.no_grad():
            logits = model(image)
        prediction = logits.argmax(dim=1)[0]
        keep = (label >= 0) & (label < num_classes)
        hist += torch.bincount(num_classes * label[keep] + prediction[keep],
                               minlength=num_classes**2).reshape(num_classes, num_classes)
        all_logits.append(logits)
    return hist, all_logits


def official_miou(hist):
    """metric.py cal_scores(): mean over classes of diag / (row + column - diag), NaN skipped."""
    hist = hist.double()
    iou = hist.diag() / (hist.sum(0) + hist.sum(1) - hist.diag())
    return float(np.nanmean(iou.numpy()))
