# EANet on Pascal VOC 2012 with the authors' protocol, stage 1 of 2: train on train_aug
# (train + SBD, 10582 images), evaluate on val. Every value below is that of the official code
# (MenghaoGuo/EANet: settings.py, train_torch.py, model_torch.py, test_torch.py; line numbers
# in docs/recipes.md (EANet section)). The authors trained ResNet-101 (eanet_r101_voc12aug.py); this is
# their code's n_layers=50 option with the same recipe. Stage 2: eanet_r50_voc12aug_trainval.py.
# mmseg's standard VOC recipe (512 crops, 40k, aux head) is eanet_r50_voc12aug_mmseg-40k.py.
#   tools/dist_train.sh configs/eanet_r50_voc12aug.py 4     # 4 GPUs x 4 images, SyncBN
#   .venv/bin/python tools/test.py configs/eanet_r50_voc12aug.py CKPT --tta
#   (the official multi-scale + flip test)
_base_ = [
    './_base_/eanet_r50-d8.py', 'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

crop_size = (513, 513)  # settings.CROP_SIZE
# Inputs: RGB, (x / 255 - mean) / std with ImageNet mean/std (test_torch.py fetch()), i.e. the
# mean/std/bgr_to_rgb of the base's data preprocessor. Crops smaller than 513 are padded at the
# bottom / right after normalisation with 0 and label 255 (the official pad()), here by the
# preprocessor (size=crop_size, pad_val=0, seg_pad_val=255), not by a Pad transform (which would
# pad before normalisation). At test time it pads the normalised image with 0 to the next
# 8k + 1 (the official pad_inf() with settings.STRIDE = 8, which eval_torch.py's ValDataset
# applies to every val image); the padding is cropped off the prediction before scoring, which
# equals the official scoring against a label padded with the ignored 255.
data_preprocessor = dict(type='mmattn.StridePadSegDataPreProcessor', size=crop_size,
                         test_stride=8)
model = dict(
    data_preprocessor=data_preprocessor,
    # The official code starts from PyTorch-Encoding's ImageNet ResNet with a 64-64-128 stem
    # (model_torch.py resnet()); mmseg's resnet50_v1c has a 32-32-64 stem and cannot be used.
    #   wget https://hangzh.s3.amazonaws.com/encoding/models/resnet50-ebb6acbb.zip
    #   unzip resnet50-ebb6acbb.zip   (sha1 ebb6acbbd1d1c90b7f446ae59d30bf70c74febc1)
    #   .venv/bin/python tools/model_converters/eanet2mmattn.py resnet50-ebb6acbb.pth \
    #       checkpoints/resnet50-ebb6acbb_mmseg.pth --depth 50
    pretrained='checkpoints/resnet50-ebb6acbb_mmseg.pth',
    backbone=dict(
        # ResNetV1c = deep stem, stride in the 3x3 conv, 1x1 strided projection (as the official).
        stem_channels=128,  # 3x3 convs 3->64 (stride 2), 64->64, 64->128 (model_torch.py 60-67)
        strides=(1, 2, 1, 1),  # output stride 8 (settings.STRIDE)
        # layer3: _make_layer(dilation=2): first block 1, the others 2 (contract_dilation);
        # layer4: _make_layer(dilation=4, grids=[1, 2, 4]): first block 2, then 4*2, 4*4.
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        multi_grid=(2, 8, 16)),
    decode_head=dict(
        num_classes=21,
        align_corners=True,  # F.interpolate(..., align_corners=True) (model_torch.py 271)
        # Loss: NLL of log_softmax averaged over all pixels, ignored ones included
        # (CrossEntropyLoss2d): mmseg's CrossEntropyLoss with avg_non_ignore=False (default).
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)  # EANet has no auxiliary head (model_torch.py EANet)

# Training data: resize by a random factor of settings.SCALES, pad to 513, random 513 crop,
# random horizontal flip; no photometric distortion. (The authors' dataset.py is not in their
# repository; these are the transforms of the EMANet dataset.py it is built on, whose fetch()
# and pad_inf() test_torch.py repeats, with settings.SCALES / CROP_SIZE.)
train_scales = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomChoice',
        transforms=[[dict(type='Resize', scale_factor=s, keep_ratio=True)]
                    for s in train_scales]),
    dict(type='RandomCrop', crop_size=crop_size),  # uniform position, no cat_max_ratio
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
data_root = 'data/VOCdevkit/VOC2012'
dataset_train = dict(
    type='PascalVOCDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    pipeline=train_pipeline)
dataset_aug = dict(
    type='PascalVOCDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='ImageSets/Segmentation/aug.txt',
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=4,  # per GPU: 4 GPUs x 4 = settings.BATCH_SIZE 16, SyncBN across all 16
    dataset=dict(datasets=[dataset_train, dataset_aug]))

# Validation and test = the official single-scale evaluation (eval_torch.py with EMANet's
# dataset.py ValDataset): the whole image at its own size (no Resize), decoded by PIL as the
# official fetch() does, padded to 8k + 1 by the data preprocessor (above), labels read from
# SegmentationClassAug as ValDataset reads them (docs/external_attention.md, "VOC validation").
# --tta: the official test_torch.py protocol (scales settings.TEST_SCALES, + flip, resized and
# padded to 8k+1 on the normalised input, logits summed), see
# mmattn/models/segmentors/logit_sum_tta.py.
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='LoadAnnotations'),  # mmseg reads label PNGs with PIL, palette indices as they are
    dict(type='PackSegInputs')
]
val_dataloader = dict(
    dataset=dict(
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
tta_model = dict(
    type='mmattn.LogitSumTTAModel',
    scales=(0.5, 0.75, 1.0, 1.25, 1.5, 1.75),
    flip=True,
    pad_divisor=8)
tta_pipeline = test_pipeline

# Optimiser (train_torch.py get_params() and SGD(...)): SGD momentum 0.9, lr 9e-3;
# conv (Conv2d, Conv1d) weights: lr x1, weight decay 1e-4; BN weights: lr x1, no decay;
# every bias (conv and BN): lr x2, no decay. In mmengine: custom_keys match the name ending
# '.bias' (and override the other rules), norm_decay_mult=0 covers the BN weights.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=9e-3, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, custom_keys={'.bias': dict(lr_mult=2.0, decay_mult=0.0)}),
    clip_grad=None)
# Poly 0.9 to 0 over settings.ITER_MAX = 45k iterations. (The official loop updates the lr every
# LR_DECAY = 10 iterations and runs iterations 0..45000; mmengine updates it every iteration.)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=45000, by_epoch=False)
]
# Checkpoint every settings.ITER_SAVE = 3000 iterations. (The official code also evaluates on
# val every 600 iterations; that costs time and does not change the model.)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=45000, val_interval=3000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=3000))
auto_scale_lr = dict(enable=False, base_batch_size=16)
