# Stage 1 of the LambdaNetworks pipeline for LambdaResNet-101 (arXiv:2102.08602): lambda layers
# in c4 blocks 7, 14 and 22 and in all three c5 blocks, the placement of
# configs/mask_rcnn_lambda_r101_fpn_1x_coco.py (docs/lambda.md). Recipe as
# configs/lambda_resnet50_8xb32_in1k.py (mmpretrain's resnet/resnet101_8xb32_in1k.py is the same
# recipe with depth 101).
#   tools/dist_train.sh configs/lambda_resnet101_8xb32_in1k.py 8
# writes work_dirs/lambda_resnet101_8xb32_in1k/epoch_100.pth, read by
# configs/mask_rcnn_lambda_r101-in1k_fpn_1x_coco.py.
_base_ = './lambda_resnet50_8xb32_in1k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(backbone=dict(depth=101))
