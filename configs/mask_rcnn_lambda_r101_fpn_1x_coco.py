# Mask R-CNN R101-FPN 1x on COCO with the LambdaResNet-101 hybrid (arXiv:2102.08602): lambda
# layers in c4 blocks 7, 14 and 22 and in all three c5 blocks (docs/lambda.md).
# Compare with mmdet's Mask R-CNN R101-FPN 1x: 40.0 box / 36.1 mask AP.
#   tools/dist_train.sh configs/mask_rcnn_lambda_r101_fpn_1x_coco.py 8   (8 GPUs x 2 images)
_base_ = './mask_rcnn_lambda_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        depth=101,
        # wget -P checkpoints https://download.pytorch.org/models/resnet101-63fe2227.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet101-63fe2227.pth')))
