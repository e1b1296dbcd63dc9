# FCN with a LambdaResNet-50-D8 backbone on ADE20K: the paper hybrid (lambda layers in c4 block 5
# and all c5 blocks, k=16, h=4, u=1, r=23; arXiv:2102.08602) on mmseg's ResNetV1c-D8 (deep stem,
# dilations 1/1/2/4, output stride 8). Dilation does not apply to a lambda layer: its scope is
# the r x r window. Not a paper experiment (the paper reports ImageNet and COCO). Compare with the
# FCN R50-D8 80k entry of mmseg's model zoo: 35.94 mIoU (37.94 multi-scale + flip).
# Recipe: mmseg's standard ADE20K 80k schedule (SGD lr 0.01, poly), 512x512 crops,
# 16 images per iteration:  tools/dist_train.sh configs/fcn_lambda_r50_d8_ade20k.py 4
# (4 GPUs x 4 images, mmseg's 4xb4 setting).
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # mmseg's ImageNet ResNet-50-V1c (open-mmlab://resnet50_v1c), read from a file:
    # wget -P checkpoints https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth
    pretrained='checkpoints/resnet50_v1c-2cccc1ad.pth',
    backbone=dict(
        type='mmattn.LambdaResNet',
        deep_stem=True,  # what the ResNetV1c type adds
        lambda_preset='paper_hybrid',
        lambda_cfg=dict(dim_k=16, heads=4, dim_u=1, r=23)))

# The lr (0.01) belongs to 16 images per iteration (mmseg's 4xb4); mmengine rescales it for
# another total batch only with --auto-scale-lr (tools/train.py) or enable=True.
auto_scale_lr = dict(enable=False, base_batch_size=16)
