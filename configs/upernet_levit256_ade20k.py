# UPerNet with a LeViT-256 backbone on ADE20K, 512x512 crops, 160k iterations.
# Recipe: mmseg's Swin-T UPerNet ADE20K recipe (swin/swin-tiny-patch4-window7-in1k-pre_upernet_
# 8xb2-160k_ade20k-512x512.py): AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01 (none on
# norms and attention-bias tables), 1500-iteration linear warm-up then poly, 8 GPUs x 2 images.
# The LeViT paper has no segmentation experiment; this is our transfer of that standard recipe.
# Departures (docs/recipes.md): drop path 0.1 (our choice, mmdet's PVT default; Swin-T: 0.3),
# no decay on any norm layer (Swin's 'norm' key spares only the backbone's LayerNorms), levels
# at strides 8-64 (Swin 4-32), so the auxiliary head reads stride 32.
#   tools/dist_train.sh configs/upernet_levit256_ade20k.py 8
_base_ = [
    'mmseg::_base_/models/upernet_r50.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
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
    decode_head=dict(in_channels=[128, 256, 384, 512], num_classes=150),
    # auxiliary FCN head on the stride-32 stage (384 channels), as mmseg's UPerNets do on C4
    auxiliary_head=dict(in_channels=384, in_index=2, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0., custom_keys=dict(attention_biases=dict(decay_mult=0.))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False)
]
train_dataloader = dict(batch_size=2)  # per GPU: 8 GPUs x 2 = 16 images per iteration
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
