# Stage 1 of the LambdaNetworks pipeline (Bello, ICLR 2021, arXiv:2102.08602): ImageNet-1k
# classification with the LambdaResNet-50 hybrid, on mmpretrain. Its checkpoint initialises
# configs/mask_rcnn_lambda_r50-in1k_fpn_1x_coco.py (stage 2), so the backbone is exactly the
# detection one: the paper's lambda layer (k=16, h=4, u=1, r=23) in one c4 block (block 5) and
# all three c5 blocks (lambda_preset='paper_hybrid', docs/lambda.md).
# Recipe: mmpretrain's standard ResNet-50 recipe (resnet/resnet50_8xb32_in1k.py: 100 epochs,
# SGD lr 0.1 for 256 images = 8 GPUs x 32, steps at 30/60/90, 224 crops). The paper's own ImageNet
# training details (its appendix E.2) could not be read: docs/recipes.md lists every value.
#   tools/dist_train.sh configs/lambda_resnet50_8xb32_in1k.py 8
# writes work_dirs/lambda_resnet50_8xb32_in1k/epoch_100.pth, the file stage 2 reads.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='mmattn.LambdaResNet',
        lambda_preset='paper_hybrid',
        lambda_cfg=dict(dim_k=16, heads=4, dim_u=1, r=23)))
