# EANet R50-D8 on ADE20K: the recipe of eanet_r101_ade20k.py with a ResNet-50 backbone.
# Recipe: mmseg's standard ADE20K 160k schedule (SGD lr 0.01, momentum 0.9, wd 5e-4, poly 0.9,
# eta_min 1e-4), 512x512 crops, 16 images per iteration as in the paper:
#   tools/dist_train.sh configs/eanet_r50_ade20k.py 8   (8 GPUs x 2 images).
_base_ = [
    './_base_/eanet_r50-d8.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
train_dataloader = dict(batch_size=2)  # per GPU: 8 GPUs x 2 = 16 images per iteration
# `tools/train.py --auto-scale-lr` rescales lr for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
