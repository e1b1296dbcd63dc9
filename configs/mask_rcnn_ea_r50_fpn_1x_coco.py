# Mask R-CNN R50-FPN 1x on COCO with one External Attention module after the last block of
# ResNet stage 4: the EANet paper's detection experiment (arXiv:2105.02358, Mask R-CNN R50-FPN in
# MMDetection, about +1 AP box and mask; not read in the paper:
# docs/paper_facts.md#external-attention-eanet) over mmdet's 38.2 / 34.7.
# Recipe: mmdet's standard 1x schedule (12 epochs, SGD lr 0.02, 16 images = 8 GPUs x 2); the
# paper's schedule could not be read, docs/recipes.md traces each value.
#   tools/dist_train.sh configs/mask_rcnn_ea_r50_fpn_1x_coco.py 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='mmattn.EAResNet',
        # One EA (S=64 memory units, one head, BN with batch statistics although the ResNet
        # BNs are frozen by norm_eval, output norm zero-initialised so the pretrained network
        # is unchanged at the start) after the last block of stage 4.
        ea_cfg=dict(type='ExternalAttentionPlugin', num_memory=64, num_heads=1,
                    norm_cfg=dict(type='BN'), zero_init_norm=True),
        ea_stages=(False, False, False, True),
        ea_blocks=(-1, ),
        # torchvision's ImageNet ResNet-50 (mmdet's torchvision://resnet50), read from a file:
        # wget -P checkpoints https://download.pytorch.org/models/resnet50-0676ba61.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')))
