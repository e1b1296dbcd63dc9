# Stage 2 of the X-volution pipeline with global self-attention: configs/mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py
# started from the ImageNet X-volution (SA) ResNet-50 of configs/xvolution_sa_resnet50_8xb32_in1k.py
# (every backbone tensor from that checkpoint; see the PSSA stage-2 config). Paper: 41.1 box /
# 37.2 mask AP with X-volution (SA) (docs/paper_facts.md#x-volution: not read in the paper, schedule not read).
#   tools/dist_train.sh configs/xvolution_sa_resnet50_8xb32_in1k.py 8             (stage 1)
#   tools/dist_train.sh configs/mask_rcnn_xvolution_sa_r50-in1k_fpn_1x_coco.py 8  (stage 2)
_base_ = './mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='StrictPretrained',
                      checkpoint='work_dirs/xvolution_sa_resnet50_8xb32_in1k/epoch_100.pth',
                      prefix='backbone.')))
