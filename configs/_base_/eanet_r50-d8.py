# EANet model (arXiv:2105.02358) on mmseg's dilated ResNetV1c-50 (output stride 8).
# Head as in the official segmentation code: 3x3 ConvBNReLU 2048->512, External Attention
# (S=64 memory units), 3x3 ConvBNReLU 512->256, dropout 0.1, 1x1 classifier; plus mmseg's usual
# FCN auxiliary head on stage 3 (loss weight 0.4), as mmseg's other R50/R101-D8 models.
_base_ = ['mmseg::_base_/models/fcn_r50-d8.py']  # backbone, data preprocessor, aux head

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    # ImageNet ResNetV1c-50 (mmseg's open-mmlab://resnet50_v1c), read from a local file:
    # wget -P checkpoints \
    #     https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth
    pretrained='checkpoints/resnet50_v1c-2cccc1ad.pth',
    decode_head=dict(
        _delete_=True,
        type='mmattn.EAHead',
        in_channels=2048,
        in_index=3,
        ea_channels=512,
        channels=256,
        num_memory=64,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))

# Multi-scale (0.5-1.75) + flip test, the paper's MS+flip protocol, comes with the top-level
# configs' bases: `tta_model = dict(type='SegTTAModel')` (mmseg default_runtime) and the
# dataset's `tta_pipeline`; `tools/test.py CONFIG CHECKPOINT --tta` switches to them.
