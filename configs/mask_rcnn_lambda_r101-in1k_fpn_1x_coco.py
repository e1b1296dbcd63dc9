# Stage 2 of the LambdaNetworks pipeline for LambdaResNet-101: configs/mask_rcnn_lambda_r101_fpn_1x_coco.py
# started from the ImageNet LambdaResNet-101 of configs/lambda_resnet101_8xb32_in1k.py (every
# backbone tensor from that checkpoint; see configs/mask_rcnn_lambda_r50-in1k_fpn_1x_coco.py).
#   tools/dist_train.sh configs/lambda_resnet101_8xb32_in1k.py 8             (stage 1)
#   tools/dist_train.sh configs/mask_rcnn_lambda_r101-in1k_fpn_1x_coco.py 8  (stage 2)
_base_ = './mask_rcnn_lambda_r101_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        lambda_norm_eval=True,
        init_cfg=dict(type='StrictPretrained',
                      checkpoint='work_dirs/lambda_resnet101_8xb32_in1k/epoch_100.pth',
                      prefix='backbone.')))
