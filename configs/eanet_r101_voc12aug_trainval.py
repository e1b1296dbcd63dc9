# EANet R101 on Pascal VOC 2012 with the authors' protocol, stage 2 of 2: fine-tune
# eanet_r101_voc12aug.py's model on trainval (10k iterations at lr 9e-4, our choice: the
# authors' code has no fine-tune stage) and write the test-set PNGs for the evaluation server
# (see eanet_r50_voc12aug_trainval.py for the recipe).
#   tools/dist_train.sh configs/eanet_r101_voc12aug_trainval.py 4
#   .venv/bin/python tools/test.py configs/eanet_r101_voc12aug_trainval.py CKPT --tta --format-only
_base_ = './eanet_r50_voc12aug_trainval.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

load_from = 'work_dirs/eanet_r101_voc12aug/iter_45000.pth'
model = dict(
    # Read even with load_from: mmengine runs init_weights() (this file) before it loads
    # load_from, so it must exist. The official ImageNet ResNet-101, as in stage 1.
    pretrained='checkpoints/resnet101-2a57e44d_mmseg.pth',
    backbone=dict(depth=101))
test_evaluator = dict(output_dir='work_dirs/format_results/eanet_r101_voc12aug_trainval')
