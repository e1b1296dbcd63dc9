# EANet R101 on Pascal VOC 2012 with the authors' protocol (MenghaoGuo/EANet), stage 1 of 2:
# 45k iterations on train_aug, 513x513 crops, 16 images, SGD lr 9e-3 (biases x2, decay 1e-4 on
# conv weights only), no auxiliary head, official multi-scale + flip test with --tta. The full
# recipe and its sources: eanet_r50_voc12aug.py and docs/recipes.md (EANet section).
# Stage 2: eanet_r101_voc12aug_trainval.py. mmseg's standard recipe: *_mmseg-40k.py.
#   tools/dist_train.sh configs/eanet_r101_voc12aug.py 4
_base_ = './eanet_r50_voc12aug.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # PyTorch-Encoding's ImageNet ResNet-101 (64-64-128 stem), the file model_torch.py loads:
    #   wget https://hangzh.s3.amazonaws.com/encoding/models/resnet101-2a57e44d.zip
    #   unzip resnet101-2a57e44d.zip   (sha1 2a57e44de9c853fa015b172309a1ee7e2d0e4e2a)
    #   .venv/bin/python tools/model_converters/eanet2mmattn.py resnet101-2a57e44d.pth \
    #       checkpoints/resnet101-2a57e44d_mmseg.pth
    pretrained='checkpoints/resnet101-2a57e44d_mmseg.pth',
    backbone=dict(depth=101))  # settings.N_LAYERS
