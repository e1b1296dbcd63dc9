# Mask R-CNN R101-FPN 1x on COCO with External Attention after the last block of stage 4
# (compare with mmdet's R101-FPN 1x: 40.0 box / 36.1 mask AP). Not a paper experiment (the paper's
# detection result is R50): the R50 recipe on ResNet-101.
#   tools/dist_train.sh configs/mask_rcnn_ea_r101_fpn_1x_coco.py 8
_base_ = './mask_rcnn_ea_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        depth=101,
        # wget -P checkpoints https://download.pytorch.org/models/resnet101-63fe2227.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet101-63fe2227.pth')))
