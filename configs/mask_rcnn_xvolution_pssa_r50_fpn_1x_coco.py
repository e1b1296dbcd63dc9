# Mask R-CNN R50-FPN 1x on COCO with X-volution (PSSA attention) replacing every 3x3 conv of ResNet
# stage 3 (mmdet stage index 2, the strided first block included), the placement the project
# reads for the X-volution paper (arXiv:2106.02253; not read in the paper:
# docs/paper_facts.md#x-volution).
# Paper: X-volution(SA) 41.1 box (not read) / 37.2 mask, PSSA comparable; its schedule could not
# be read, so it is not comparable with mmdet's plain R50 1x baseline, 38.2 / 34.7
# (docs/recipes.md). The paper pre-trained X-volution ResNets on ImageNet; without such a
# checkpoint we load ImageNet ResNet-50 into the conv branches and start the attention branches at
# zero (zero_init_attention), so training starts from the plain pretrained network.
# Recipe: mmdet's standard 1x schedule (12 epochs, SGD lr 0.02, 16 images = 8 GPUs x 2).
#   tools/dist_train.sh configs/mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py 8
#   .venv/bin/python tools/test.py configs/mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py CKPT --deploy
#   (merged form)
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        # ResNet's dcn hook builds conv2 of the chosen stages with this type (bn2 stays after
        # it and plays the conv branch's BN, hence conv_norm=False; see docs/xvolution.md).
        dcn=dict(type='mmattn.XVolution', attention='pssa', directions=8, product='channel',
                 normalize='none', stride_mode='subsample', conv_norm=False,
                 zero_init_attention=True),
        stage_with_dcn=(False, False, True, False),
        # torchvision's ImageNet ResNet-50 (mmdet's torchvision://resnet50), read from a file:
        # wget -P checkpoints https://download.pytorch.org/models/resnet50-0676ba61.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')))
