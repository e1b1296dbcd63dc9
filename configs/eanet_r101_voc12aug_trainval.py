# EANet R101-D8 on Pascal VOC 2012, stage 2 of 2: fine-tune eanet_r101_voc12aug.py's model on
# trainval (10k iterations, lr 0.001) and write test-set PNGs for the evaluation server.
#   tools/dist_train.sh configs/eanet_r101_voc12aug_trainval.py 4
#   tools/test.py configs/eanet_r101_voc12aug_trainval.py CKPT --tta
_base_ = './eanet_r50_voc12aug_trainval.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

load_from = 'work_dirs/eanet_r101_voc12aug/iter_40000.pth'
model = dict(
    # Only used if load_from is unset: the ImageNet ResNetV1c-101, as in stage 1.
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    backbone=dict(depth=101))
test_evaluator = dict(output_dir='work_dirs/format_results/eanet_r101_voc12aug_trainval')
