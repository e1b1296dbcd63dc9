# EANet R101-D8 on Pascal VOC 2012 with mmseg's standard VOC recipe (40k iterations on
# train_aug, 4 GPUs x 4; see eanet_r50_voc12aug_mmseg-40k.py). The authors' protocol is
# eanet_r101_voc12aug.py. Baseline: mmseg::pspnet/pspnet_r101-d8_4xb4-40k_voc12aug-512x512.py.
#   tools/dist_train.sh configs/eanet_r101_voc12aug_mmseg-40k.py 4
_base_ = './eanet_r50_voc12aug_mmseg-40k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # ImageNet ResNetV1c-101 (mmseg's open-mmlab://resnet101_v1c), read from a local file:
    # wget -P checkpoints \
    #     https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    backbone=dict(depth=101))
