# Faster R-CNN R50-FPN 1x on COCO with X-volution (PSSA) replacing the 3x3 convs of ResNet stage 3
# (the placement of the X-volution paper's detection experiments). mmdet's plain R50 1x baseline:
# 37.4 box AP (Papers with Code lists 42.8 for the paper's Faster R-CNN FPN X-volution, in a
# setting that could not be read). Recipe: mmdet's standard 1x schedule (12 epochs, SGD lr 0.02,
# 8 GPUs x 2 images); docs/recipes.md traces each value.
#   tools/dist_train.sh configs/faster_rcnn_xvolution_pssa_r50_fpn_1x_coco.py 8
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        # See mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py for the choices.
        dcn=dict(type='mmattn.XVolution', attention='pssa', directions=8, product='channel',
                 normalize='none', stride_mode='subsample', conv_norm=False,
                 zero_init_attention=True),
        stage_with_dcn=(False, False, True, False),
        # wget -P checkpoints https://download.pytorch.org/models/resnet50-0676ba61.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')))
