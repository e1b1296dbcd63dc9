"""Where the files that mmattn's configs read come from: pretrained checkpoints and data sets.

One table each. ``mmattn.apis.preflight`` prints the fix for a missing file from them and the
docs (docs/get_started.md) point here; tests/utils/test_sources.py checks that every checkpoint a
config names is listed, with the URL of the config's own ``wget`` comment.
"""
import os.path as osp
from typing import Optional

__all__ = ['DATA_DOCS', 'PRETRAINED_FILES', 'TRAIN_SET_SIZES', 'fetch_command']

# file name (as the configs name it, under checkpoints/) -> where it comes from. ``url``: download
# it as it is; ``from_file`` + ``convert``: download that file, then convert it
# (``{src}`` / ``{dst}`` are the two paths, ``{dir}`` their folder).
PRETRAINED_FILES = {
    'resnet50_v1c-2cccc1ad.pth': dict(
        url='https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth',
        what="ImageNet ResNetV1c-50, mmseg's open-mmlab://resnet50_v1c"),
    'resnet101_v1c-e67eebb6.pth': dict(
        url='https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth',
        what="ImageNet ResNetV1c-101, mmseg's open-mmlab://resnet101_v1c"),
    'resnet50-0676ba61.pth': dict(
        url='https://download.pytorch.org/models/resnet50-0676ba61.pth',
        what="torchvision's ImageNet ResNet-50, mmdet's torchvision://resnet50"),
    'resnet101-63fe2227.pth': dict(
        url='https://download.pytorch.org/models/resnet101-63fe2227.pth',
        what="torchvision's ImageNet ResNet-101, mmdet's torchvision://resnet101"),
    'LeViT-256-13b5763e.pth': dict(
        url='https://dl.fbaipublicfiles.com/LeViT/LeViT-256-13b5763e.pth',
        what='official ImageNet-1k LeViT-256 (facebookresearch/LeViT)'),
    # The EANet authors' ImageNet ResNets (PyTorch-Encoding, 64-64-128 deep stem), converted for
    # mmseg's ResNetV1c(stem_channels=128); see configs/eanet_r50_voc12aug.py.
    'resnet50-ebb6acbb.zip': dict(
        url='https://hangzh.s3.amazonaws.com/encoding/models/resnet50-ebb6acbb.zip',
        what="PyTorch-Encoding's ImageNet ResNet-50 (deep stem), the EANet authors' start"),
    'resnet50-ebb6acbb_mmseg.pth': dict(
        from_file='resnet50-ebb6acbb.zip',
        convert='unzip -o {src} -d {dir} && .venv/bin/python tools/model_converters/eanet2mmattn.py '
        '{dir}/resnet50-ebb6acbb.pth {dst} --depth 50',
        what="the EANet authors' ImageNet ResNet-50 in mmseg's layout"),
    'resnet101-2a57e44d.zip': dict(
        url='https://hangzh.s3.amazonaws.com/encoding/models/resnet101-2a57e44d.zip',
        what="PyTorch-Encoding's ImageNet ResNet-101 (deep stem), the EANet authors' start"),
    'resnet101-2a57e44d_mmseg.pth': dict(
        from_file='resnet101-2a57e44d.zip',
        convert='unzip -o {src} -d {dir} && .venv/bin/python tools/model_converters/eanet2mmattn.py '
        '{dir}/resnet101-2a57e44d.pth {dst} --depth 101',
        what="the EANet authors' ImageNet ResNet-101 in mmseg's layout"),
    'levit-256_mmattn.pth': dict(
        from_file='LeViT-256-13b5763e.pth',
        convert='.venv/bin/python tools/model_converters/levit2mmattn.py {src} {dst}',
        what="official LeViT-256 converted to mmattn's LeViT layout"),
}

# dataset type -> the section of docs/get_started.md that prepares it (folder layout and the
# host library's preparation script)
DATA_DOCS = {
    'CocoDataset': 'docs/get_started.md#coco',
    'ADE20KDataset': 'docs/get_started.md#ade20k',
    'CityscapesDataset': 'docs/get_started.md#cityscapes',
    'PascalVOCDataset': 'docs/get_started.md#pascal-voc',
    'ImageNet': 'docs/get_started.md#imagenet-1k',
}

# Images of the known training sets, for an ETA before the data is on disk (preflight counts the
# annotation file or image folder when it is). Key: the config's ann_file, else its image folder.
TRAIN_SET_SIZES = {
    # COCO train2017: 118287 images; 117266 have annotations, which is what mmdet trains on with
    # filter_cfg=dict(filter_empty_gt=True) (all our COCO configs; 7330 iterations/epoch at 16).
    'annotations/instances_train2017.json': 117266,
    'images/training': 20210,  # ADE20K (SceneParsing) training
    'leftImg8bit/train': 2975,  # Cityscapes gtFine train
    'ImageSets/Segmentation/train.txt': 1464,  # Pascal VOC 2012 train
    # SBD images not in VOC train/val (mmseg's voc_aug.py): train.txt + aug.txt = 10582
    'ImageSets/Segmentation/aug.txt': 9118,
    'ImageSets/Segmentation/trainval.txt': 2913,  # Pascal VOC 2012 trainval
    # mmpretrain's ImageNet read by split (data_root/train/, no ann_file): key 'type:split'.
    # ImageNet-1k (ILSVRC2012) training images, the size mmpretrain's ImageNet docstring prints.
    'ImageNet:train': 1281167,
}


def fetch_command(path: str) -> Optional[str]:
    """Shell command that puts the known checkpoint ``path`` in place; None if not listed."""
    name = osp.basename(path)
    entry = PRETRAINED_FILES.get(name)
    if entry is None:
        return None
    folder = osp.dirname(path) or '.'
    if 'url' in entry:
        if osp.basename(entry['url']) == name:
            return f"wget -P {folder} {entry['url']}"
        return f"wget -O {path} {entry['url']}"
    src = osp.join(folder, entry['from_file'])
    convert = entry['convert'].format(src=src, dst=path, dir=folder)
    return f'{fetch_command(src)} && {convert}'
