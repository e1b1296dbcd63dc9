# Stage 1 of the X-volution pipeline with global self-attention (X-volution SA) in ResNet-50
# stage 3, the backbone of configs/mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py. Recipe as
# configs/xvolution_pssa_resnet50_8xb32_in1k.py. At 224x224 stage 3 has 14x14 = 196 pixels, so
# SA's n^2 attention is small here; it is the detection resolution that makes it expensive.
#   tools/dist_train.sh configs/xvolution_sa_resnet50_8xb32_in1k.py 8
# writes work_dirs/xvolution_sa_resnet50_8xb32_in1k/epoch_100.pth.
_base_ = './xvolution_pssa_resnet50_8xb32_in1k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        dcn=dict(_delete_=True, type='mmattn.XVolution', attention='sa', heads=1,
                 qk_channels=None, stride_mode='subsample', conv_norm=False,
                 zero_init_attention=False)))
