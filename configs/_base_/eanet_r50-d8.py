# EANet model (arXiv:2105.02358) on mmseg's dilated ResNetV1c-50 (output stride 8).
# Head as in the official segmentation code (MenghaoGuo/EANet model_torch.py EANet): 3x3
# ConvBNReLU 2048->512 (fc0), External Attention with S=64 memory units (linu), 3x3 ConvBNReLU
# 512->256 and dropout 0.1 (fc1), 1x1 classifier (fc2). The rest follows mmseg's R-D8 models
# (mmseg::_base_/models/fcn_r50-d8.py): ResNetV1c (32-32-64 stem), dilations 1,1,2,4 with
# contract_dilation, SyncBN, FCN auxiliary head on stage 3 (loss weight 0.4), ImageNet RGB
# normalisation. The authors' own backbone (64-64-128 stem, multi-grid, no auxiliary head) is
# set by the configs that follow their protocol (eanet_r50_voc12aug.py and its descendants).
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
# dataset's `tta_pipeline`; `.venv/bin/python tools/test.py CONFIG CHECKPOINT --tta` switches to them.
