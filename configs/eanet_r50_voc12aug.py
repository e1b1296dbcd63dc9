# EANet R50-D8 on Pascal VOC 2012, stage 1 of 2: train on train_aug (train + SBD, 10582 images).
# Recipe: mmseg's VOC standard (512x512 crops, 40k iterations, 16 images per iteration = 4 GPUs
# x 4, SGD lr 0.01, poly 0.9). Stage 2 is eanet_r50_voc12aug_trainval.py (fine-tune on trainval).
#   tools/dist_train.sh configs/eanet_r50_voc12aug.py 4
_base_ = [
    './_base_/eanet_r50-d8.py', 'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=21),
    auxiliary_head=dict(num_classes=21))
train_dataloader = dict(batch_size=4)  # per GPU: 4 GPUs x 4 = 16 images per iteration
auto_scale_lr = dict(enable=False, base_batch_size=16)
