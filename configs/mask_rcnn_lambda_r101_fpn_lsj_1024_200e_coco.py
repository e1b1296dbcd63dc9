# Mask R-CNN R101-FPN with the LambdaResNet-101 hybrid in the paper's detection setting
# (arXiv:2102.08602: 1024x1024 inputs, large-scale jitter, long schedule; its section 5.4, table
# not read, docs/paper_facts.md#lambdanetworks: LambdaResNet-101 49.4 box / 43.5 mask AP against
# 48.2 / 42.6 for ResNet-101).
# The paper's training details (its appendix) could not be read for this recipe, so every value
# below is mmdet's LSJ recipe (mask-rcnn_r101_fpn_8xb8-amp-lsj-200e_coco.py with
# common/lsj-200e_coco-instance.py's schedule): 1024x1024 crops of scale jitter 0.1-2.0, SGD
# lr 0.08, momentum 0.9, wd 4e-5 on every parameter, 64 images = 8 GPUs x 8, fp16 AMP (the lambda
# layers keep their softmax and lambda sums in fp32), 200 COCO epochs, frozen BN in the
# pretrained ResNet (no SyncBN), single-scale test at 1333x800 without flip (mmdet's LSJ test
# pipeline, not 1024x1024). docs/recipes.md lists each value with its source line.
#   tools/dist_train.sh configs/mask_rcnn_lambda_r101_fpn_lsj_1024_200e_coco.py 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r101_fpn_8xb8-amp-lsj-200e_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='mmattn.LambdaResNet',
        lambda_preset='paper_hybrid',
        lambda_cfg=dict(dim_k=16, heads=4, dim_u=1, r=23),
        # norm_eval=True (mmdet's default) freezes the pretrained BN statistics; the lambda
        # layers' BNs have none and keep training with batch statistics.
        lambda_norm_eval=False,
        # wget -P checkpoints https://download.pytorch.org/models/resnet101-63fe2227.pth
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet101-63fe2227.pth')))

# mmdet's *-lsj-200e model files inherit the 100-epoch data base (RepeatDataset times=4). Set what
# the name says, as mmdet's common/lsj-200e_coco-instance.py does (bases with shared keys cannot
# be combined): 8 x 25 = 200 COCO epochs and 1000 warm-up iterations.
train_dataloader = dict(dataset=dict(times=8))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.067, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=25, by_epoch=True, milestones=[22, 24], gamma=0.1)
]
