# EANet R50-D8 on Cityscapes: the recipe of eanet_r101_cityscapes.py with a ResNet-50 backbone.
# No Cityscapes recipe of the authors is published (their README only had a to-do, later dropped,
# to merge the module into mmsegmentation: docs/paper_facts.md#external-attention-eanet), so every
# value is mmseg's recipe of the PSPNet / Non-local baselines, our choice: the standard
# *_4xb2-80k_cityscapes-769x769 recipe (mmseg::pspnet/pspnet_r50-d8_4xb2-80k_cityscapes-769x769.py):
#   model     ResNetV1c-D8, FCN auxiliary head (0.4), align_corners=True in both heads
#   data      769x769 crops of RandomResize((2049, 1025), ratio 0.5-2.0), cat_max_ratio 0.75,
#             flip, PhotoMetricDistortion [mmseg::_base_/datasets/cityscapes_769x769.py]
#   schedule  80k iterations, 8 images (4 GPUs x 2), SGD lr 0.01 momentum 0.9 weight decay
#             5e-4, poly 0.9 to 1e-4 [mmseg::_base_/schedules/schedule_80k.py]
#   test      sliding 769x769 windows at stride 513 on the (2049, 1025)-resized image;
#             --tta: scales 0.5-1.75 + flip (SegTTAModel)
# For 512x1024 crops inherit mmseg::_base_/datasets/cityscapes.py instead.
#   tools/dist_train.sh configs/eanet_r50_cityscapes.py 4
_base_ = [
    './_base_/eanet_r50-d8.py', 'mmseg::_base_/datasets/cityscapes_769x769.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

crop_size = (769, 769)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=19, align_corners=True),
    auxiliary_head=dict(num_classes=19, align_corners=True),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(513, 513)))
train_dataloader = dict(batch_size=2)  # per GPU: 4 GPUs x 2 = 8 images per iteration
auto_scale_lr = dict(enable=False, base_batch_size=8)
