# ImageNet-1k evaluation of the official LeViT-256 (Graham et al., ICCV 2021, arXiv:2104.01136;
# facebookresearch/LeViT, 81.6% top-1 in its README) under mmattn's LeViT backbone, on mmpretrain:
# a user with ImageNet val checks in one command that the converted weights give the paper's
# number (evaluation only; LeViT's 1000-epoch distillation training is not part of mmattn).
#   wget -P checkpoints https://dl.fbaipublicfiles.com/LeViT/LeViT-256-13b5763e.pth
#   .venv/bin/python tools/model_converters/levit2mmattn.py checkpoints/LeViT-256-13b5763e.pth \
#       checkpoints/levit-256_in1k_mmattn.pth --with-head
#   .venv/bin/python tools/test.py configs/levit256_in1k_eval.py checkpoints/levit-256_in1k_mmattn.pth
# Test protocol of the official code: main.py evaluates at --input-size 224 with the dataset
# transform of DeiT's datasets.py (build_transform, eval branch: resize the short side to
# int(256 / 224 * 224) = 256 with bicubic interpolation, centre crop 224, ImageNet mean/std);
# mmpretrain's LeViT config (levit/levit-256_8xb256_in1k.py) uses the same pipeline, kept here.
# The class and distillation heads are averaged (LeViTClsHead at test time), as the official
# model does.
_base_ = 'mmpretrain::levit/levit-256_8xb256_in1k.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='mmattn.LeViT', arch='256', out_indices=(4, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LeViTClsHead', num_classes=1000, in_channels=512, distillation=True))
