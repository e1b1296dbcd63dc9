# Mask R-CNN R50-FPN 1x on COCO with the LambdaResNet-50 hybrid of the LambdaNetworks paper
# (Bello, ICLR 2021, arXiv:2102.08602): lambda layers (k=16, h=4, u=1, r=23) instead of the 3x3
# convs of one c4 block (block 5) and all three c5 blocks; see docs/lambda.md for the placement.
# Compare with mmdet's Mask R-CNN R50-FPN 1x: 38.2 box / 34.7 mask AP.
# Recipe: mmdet's standard 1x schedule (12 epochs, SGD lr 0.02, 16 images = 8 GPUs x 2):
#   tools/dist_train.sh configs/mask_rcnn_lambda_r50_fpn_1x_coco.py 8
# The lambda layers start from scratch (no ImageNet LambdaResNet weights are public); every other
# weight comes from torchvision's ImageNet ResNet-50, and the log lists the replaced convs.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='mmattn.LambdaResNet',
        lambda_preset='paper_hybrid',
        lambda_cfg=dict(dim_k=16, heads=4, dim_u=1, r=23),
        # norm_eval=True (mmdet's default) freezes the pretrained BN statistics; the lambda
        # layers' BNs have none and keep training with batch statistics.
        lambda_norm_eval=False,
        # torchvision's ImageNet ResNet-50 (mmdet's torchvision://resnet50), read from a file:
        # wget -P checkpoints https://download.pytorch.org/models/resnet50-0676ba61.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')))
