# EANet R50-D8 on ADE20K: the recipe of eanet_r101_ade20k.py with a ResNet-50 backbone.
# The authors publish no ADE20K recipe (their README only had a to-do, later dropped, to merge the
# module into mmsegmentation: docs/paper_facts.md#external-attention-eanet), so every value is
# mmseg's recipe of the PSPNet / Non-local baselines, our choice: the standard
# *_4xb4-160k_ade20k-512x512 recipe (e.g. mmseg::pspnet/pspnet_r50-d8_4xb4-160k_ade20k-512x512.py):
#   model     ResNetV1c-D8 (32-32-64 stem, dilations 1,1,2,4, contract_dilation, no
#             multi-grid), FCN auxiliary head on stage 3 (weight 0.4), align_corners=False
#             [_base_/eanet_r50-d8.py]
#   data      512x512 crops of RandomResize((2048, 512), ratio 0.5-2.0), cat_max_ratio 0.75,
#             flip, PhotoMetricDistortion [mmseg::_base_/datasets/ade20k.py]
#   schedule  160k iterations, 16 images (8 GPUs x 2; mmseg: 4 x 4), SGD lr 0.01 momentum 0.9
#             weight decay 5e-4, poly 0.9 to 1e-4 [mmseg::_base_/schedules/schedule_160k.py]
#   test      whole image resized to (2048, 512); --tta: scales 0.5-1.75 + flip (SegTTAModel)
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
# `.venv/bin/python tools/train.py --auto-scale-lr` rescales lr for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
