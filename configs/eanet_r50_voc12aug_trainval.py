# EANet R50-D8 on Pascal VOC 2012, stage 2 of 2: fine-tune the train_aug model on VOC trainval
# (2913 images) and predict the test set for the evaluation server, the paper's VOC protocol.
# The fine-tune schedule is not given by the paper: we use 10k iterations at lr 0.001 (a tenth of
# stage 1), poly 0.9, 16 images per iteration (4 GPUs x 4).
#   tools/dist_train.sh configs/eanet_r50_voc12aug.py 4            # stage 1
#   tools/dist_train.sh configs/eanet_r50_voc12aug_trainval.py 4   # stage 2, loads stage 1
#   tools/test.py configs/eanet_r50_voc12aug_trainval.py CKPT --tta  # PNGs for the server
_base_ = './eanet_r50_voc12aug.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

# Stage 1's final checkpoint (the default work_dir of eanet_r50_voc12aug.py).
load_from = 'work_dirs/eanet_r50_voc12aug/iter_40000.pth'

dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,  # stage 1 concatenates train and SBD aug; stage 2 uses trainval only
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/trainval.txt',
        pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.001))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=10000, by_epoch=False)
]
train_cfg = dict(max_iters=10000, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
# Validation still runs on VOC val, which is inside trainval: it only tracks the fit.

# Test = the VOC 2012 test set (VOC2012test.tar, images in JPEGImages, list in
# ImageSets/Segmentation/test.txt): no labels, so predictions are written as PNGs to upload to
# the evaluation server. Multi-scale + flip with --tta, as the paper.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='PackSegInputs')
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='PackSegInputs')],
        ])
]
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages'),
        ann_file='ImageSets/Segmentation/test.txt',
        pipeline=test_pipeline))
test_evaluator = dict(
    type='IoUMetric',
    iou_metrics=['mIoU'],
    format_only=True,
    output_dir='work_dirs/format_results/eanet_r50_voc12aug_trainval')
