# EANet R50-D8 on Cityscapes: the recipe of eanet_r101_cityscapes.py with a ResNet-50 backbone.
# Recipe: mmseg's Cityscapes 80k schedule (SGD lr 0.01, poly 0.9) with 769x769 crops, 8 images
# per iteration (4 GPUs x 2), align_corners=True and sliding-window test (769, stride 513), as
# mmseg's 769x769 models. For 512x1024 crops inherit mmseg::_base_/datasets/cityscapes.py instead.
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
