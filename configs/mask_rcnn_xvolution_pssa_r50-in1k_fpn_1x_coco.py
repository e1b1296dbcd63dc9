# Stage 2 of the X-volution pipeline: configs/mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py started
# from the ImageNet X-volution (PSSA) ResNet-50 of configs/xvolution_pssa_resnet50_8xb32_in1k.py,
# as the paper's detection models start from ImageNet-trained X-volution ResNets, instead of
# torchvision's ResNet-50 with zero-initialised attention. Every backbone tensor, the X-volution
# layers' included, comes from that checkpoint (StrictPretrained, mmattn/models/pretrained.py).
#   tools/dist_train.sh configs/xvolution_pssa_resnet50_8xb32_in1k.py 8             (stage 1)
#   tools/dist_train.sh configs/mask_rcnn_xvolution_pssa_r50-in1k_fpn_1x_coco.py 8  (stage 2)
_base_ = './mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='StrictPretrained',
                      checkpoint='work_dirs/xvolution_pssa_resnet50_8xb32_in1k/epoch_100.pth',
                      prefix='backbone.')))
