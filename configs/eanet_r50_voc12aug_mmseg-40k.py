# EANet R50-D8 on Pascal VOC 2012 with mmseg's standard VOC recipe (not the authors' protocol,
# which is eanet_r50_voc12aug.py): train on train_aug (train + SBD, 10582 images), evaluate on
# val. Use it to compare with mmseg's own R-D8 VOC baselines trained the same way, e.g.
# mmseg::pspnet/pspnet_r50-d8_4xb4-40k_voc12aug-512x512.py.
# Recipe = mmseg's *_4xb4-40k_voc12aug-512x512 models:
#   model     ResNetV1c-50-D8 (32-32-64 stem, dilations 1,1,2,4 with contract_dilation, no
#             multi-grid), FCN auxiliary head on stage 3 (weight 0.4), align_corners=False
#             [_base_/eanet_r50-d8.py <- mmseg::_base_/models/fcn_r50-d8.py]
#   data      512x512 crops of RandomResize((2048, 512), ratio 0.5-2.0), cat_max_ratio 0.75,
#             flip, PhotoMetricDistortion; test: Resize((2048, 512)), whole image
#             [mmseg::_base_/datasets/pascal_voc12_aug.py]
#   schedule  40k iterations, 16 images (4 GPUs x 4), SGD lr 0.01 momentum 0.9 weight decay 5e-4
#             on every parameter, poly 0.9 to 1e-4 [mmseg::_base_/schedules/schedule_40k.py]
#   test      --tta: scales 0.5-1.75 + flip, softmax average (mmseg's SegTTAModel)
#   tools/dist_train.sh configs/eanet_r50_voc12aug_mmseg-40k.py 4
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
