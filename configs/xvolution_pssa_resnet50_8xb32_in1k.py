# Stage 1 of the X-volution pipeline (arXiv:2106.02253): ImageNet-1k classification with
# X-volution (PSSA) in place of every 3x3 conv of ResNet-50 stage 3, on mmpretrain. The backbone is
# the one of configs/mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py (mmdet's ResNet, whose dcn hook
# builds the X-volution layers), so that its checkpoint initialises
# configs/mask_rcnn_xvolution_pssa_r50-in1k_fpn_1x_coco.py (stage 2) key for key.
# Recipe: mmpretrain's standard ResNet-50 recipe (resnet/resnet50_8xb32_in1k.py); the X-volution
# paper's ImageNet recipe was not read (docs/recipes.md).
#   tools/dist_train.sh configs/xvolution_pssa_resnet50_8xb32_in1k.py 8
# writes work_dirs/xvolution_pssa_resnet50_8xb32_in1k/epoch_100.pth.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='mmdet.ResNet',
        # mmdet's ResNet freezes BN statistics by default (norm_eval=True, for detection
        # fine-tuning); ImageNet training from scratch learns them, as mmpretrain's ResNet does.
        norm_eval=False,
        # as the detection config (bn2 after conv2 is the conv branch's BN); from scratch the
        # attention branch trains from the start (zero_init_attention=False)
        dcn=dict(type='mmattn.XVolution', attention='pssa', directions=8, product='channel',
                 normalize='none', stride_mode='subsample', conv_norm=False,
                 zero_init_attention=False),
        stage_with_dcn=(False, False, True, False)))
