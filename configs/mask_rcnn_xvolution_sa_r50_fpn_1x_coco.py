# Mask R-CNN R50-FPN 1x on COCO with X-volution (global self-attention) in ResNet stage 3.
# Paper: 41.1 box (not read) / 37.2 mask AP with X-volution(SA), schedule not read
# (docs/paper_facts.md#x-volution); mmdet's plain R50 1x: 38.2 / 34.7.
# SA is O(n^2) in the stage-3 pixels (about 4k at 1333x800, so 16M attention weights per image
# and head); the memory-efficient attention kernels of torch's scaled_dot_product_attention keep
# it affordable on GPU. Recipe and checkpoint as in the PSSA config this file inherits.
_base_ = './mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        dcn=dict(_delete_=True, type='mmattn.XVolution', attention='sa', heads=1,
                 qk_channels=None, stride_mode='subsample', conv_norm=False,
                 zero_init_attention=True)))
