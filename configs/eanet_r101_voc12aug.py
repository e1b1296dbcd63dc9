# EANet R101-D8 on Pascal VOC 2012, stage 1 of 2: train on train_aug (40k iterations, 4 GPUs x 4).
# Stage 2: eanet_r101_voc12aug_trainval.py.
#   tools/dist_train.sh configs/eanet_r101_voc12aug.py 4
_base_ = './eanet_r50_voc12aug.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # wget -P checkpoints \
    #     https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    backbone=dict(depth=101))
