# Stage 2 of the LambdaNetworks pipeline: configs/mask_rcnn_lambda_r50_fpn_1x_coco.py (Mask R-CNN
# R50-FPN 1x, LambdaResNet-50 hybrid) started from the ImageNet LambdaResNet-50 of stage 1,
# configs/lambda_resnet50_8xb32_in1k.py, instead of torchvision's ResNet-50 with new lambda
# layers. Every backbone tensor, the lambda layers' included, comes from that checkpoint
# (StrictPretrained: a missing, unexpected or mis-shaped key stops the run, naming each;
# mmattn/models/pretrained.py). Recipe: mmdet's 1x, as the config this file inherits.
#   tools/dist_train.sh configs/lambda_resnet50_8xb32_in1k.py 8            (stage 1)
#   tools/dist_train.sh configs/mask_rcnn_lambda_r50-in1k_fpn_1x_coco.py 8  (stage 2)
_base_ = './mask_rcnn_lambda_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        # the lambda layers now have ImageNet BN statistics: frozen like every other BN of the
        # pretrained backbone under norm_eval=True (mmdet's fine-tuning convention)
        lambda_norm_eval=True,
        init_cfg=dict(type='StrictPretrained',
                      checkpoint='work_dirs/lambda_resnet50_8xb32_in1k/epoch_100.pth',
                      prefix='backbone.')))
