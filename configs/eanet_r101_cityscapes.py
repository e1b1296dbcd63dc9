# EANet R101-D8 on Cityscapes (paper: 81.7 mIoU on val). 80k iterations, 769x769 crops,
# 8 images per iteration (4 GPUs x 2), multi-scale + flip test with
# `.venv/bin/python tools/test.py ... --tta`;
# mmseg's standard 769x769 recipe (sources in eanet_r50_cityscapes.py, docs/recipes.md (EANet section)).
#   tools/dist_train.sh configs/eanet_r101_cityscapes.py 4
_base_ = './eanet_r50_cityscapes.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # wget -P checkpoints \
    #     https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    backbone=dict(depth=101))
