# RetinaNet with a LeViT-256 backbone and FPN on COCO, 1x schedule (12 epochs).
# Recipe: mmdet's PVT RetinaNet recipe (pvt/retinanet_pvt-t_fpn_1x_coco.py): AdamW lr 1e-4,
# weight decay 1e-4, 8 GPUs x 2 images, mmdet's 1x step schedule, drop path 0.1 (PVT's default).
# The LeViT paper has no detection experiment; this is our transfer of that standard recipe.
# Departures (docs/recipes.md): no weight decay on BN and attention-bias tables (PVT decays
# everything), SyncBN in the backbone (PVT has LayerNorm), FPN from the stride-8 level
# (start_level 0) and padding to 64 because LeViT's levels have strides 8-64.
#   tools/dist_train.sh configs/retinanet_levit256_fpn_1x_coco.py 8
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # the deepest level has stride 64: pad to it so every level has an exact size
    data_preprocessor=dict(pad_size_divisor=64),
    backbone=dict(
        _delete_=True,
        type='mmattn.LeViT',
        arch='256',
        # levels 1-4: the stem map at stride 8 (128 ch) and the stages at 16/32/64 (256/384/512)
        out_indices=(1, 2, 3, 4),
        drop_path_rate=0.1,
        pretrain_img_size=224,  # bias tables stored at 14/7/4, resized to each input's grid
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        # Official ImageNet-1k LeViT-256 (81.6% top-1), converted once to mmattn's layout:
        #   wget -P checkpoints https://dl.fbaipublicfiles.com/LeViT/LeViT-256-13b5763e.pth
        #   .venv/bin/python tools/model_converters/levit2mmattn.py \
        #       checkpoints/LeViT-256-13b5763e.pth checkpoints/levit-256_mmattn.pth
        # (timm's levit_256.fb_dist_in1k and mmpretrain's LeViT-256 convert the same way.)
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/levit-256_mmattn.pth')),
    # FPN on strides 8/16/32/64 plus one extra conv (stride 128): RetinaNet's 5 anchor levels
    neck=dict(in_channels=[128, 256, 384, 512], start_level=0, num_outs=5,
              add_extra_convs='on_input'))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0., custom_keys=dict(attention_biases=dict(decay_mult=0.))))
auto_scale_lr = dict(enable=False, base_batch_size=16)
