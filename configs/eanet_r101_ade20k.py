# EANet R101-D8 on ADE20K, the paper's main segmentation result (45.33 mIoU on val with
# multi-scale + flip test:
#   .venv/bin/python tools/test.py configs/eanet_r101_ade20k.py CKPT --tta).
# mmseg's standard 160k recipe (sources in eanet_r50_ade20k.py and docs/recipes.md (EANet section)):
# 512x512 crops, 160k iterations, 16 images per iteration (8 GPUs x 2), SyncBN, poly LR:
#   tools/dist_train.sh configs/eanet_r101_ade20k.py 8
_base_ = './eanet_r50_ade20k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # ImageNet ResNetV1c-101 (mmseg's open-mmlab://resnet101_v1c), read from a local file:
    # wget -P checkpoints \
    #     https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    backbone=dict(depth=101))
