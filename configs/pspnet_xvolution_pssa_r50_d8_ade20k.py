# PSPNet R50-D8 on ADE20K (512x512, 80k iterations) with X-volution (PSSA) replacing the 3x3 convs
# of ResNet stage 3. In the output-stride-8 ResNet that stage runs at dilation 2, so the conv branch
# is dilated and PSSA shifts by L = 2 (shifts default to the dilation). mmseg's plain PSPNet R50-D8
# 80k: 41.13 mIoU (single scale). Not a paper experiment (the paper reports COCO and ImageNet).
# Recipe: mmseg's standard ADE20K 80k schedule, 4 GPUs x 4 images.
#   tools/dist_train.sh configs/pspnet_xvolution_pssa_r50_d8_ade20k.py 4
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # mmseg's ImageNet ResNet-50-V1c (open-mmlab://resnet50_v1c), read from a file:
    # wget -P checkpoints \
    #   https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth
    pretrained='checkpoints/resnet50_v1c-2cccc1ad.pth',
    backbone=dict(
        # mmseg trains its BNs (SyncBN, norm_eval=False); X-volution's attention BN follows the
        # backbone's norm_cfg (mmseg's pspnet_r50-d8 base), so it synchronises across GPUs too.
        dcn=dict(type='mmattn.XVolution', attention='pssa', directions=8, product='channel',
                 normalize='none', stride_mode='subsample', conv_norm=False,
                 zero_init_attention=True, norm_cfg=dict(type='SyncBN', requires_grad=True)),
        stage_with_dcn=(False, False, True, False)))

# The lr (0.01) belongs to 16 images per iteration (mmseg's 4xb4); mmengine rescales it for
# another total batch only with --auto-scale-lr (tools/train.py) or enable=True.
auto_scale_lr = dict(enable=False, base_batch_size=16)
