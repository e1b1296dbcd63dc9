# The authors' released EANet (MenghaoGuo/EANet, Pascal VOC model: ResNet-101 with a 64-64-128
# stem, output stride 8, multi-grid (2, 8, 16) in stage 4, fc0 / EA / fc1 / fc2 head, no
# auxiliary head) in mmseg, evaluated on VOC 2012 val. Its logits equal the official model's
# (tests/models/test_eanet_converter.py); --tta is the official test_torch.py protocol (scales
# 0.5-1.75 + flip on the normalised input, logits summed).
#   wget -O checkpoints/eanet_voc_official.pth \
#       'https://cloud.tsinghua.edu.cn/f/1e7253ae0748470482e4/?dl=1'
#   .venv/bin/python tools/model_converters/eanet2mmattn.py checkpoints/eanet_voc_official.pth \
#       checkpoints/eanet_r101_voc12aug_official_mmattn.pth
#   .venv/bin/python tools/test.py configs/eanet_r101_voc12aug_official.py \
#       checkpoints/eanet_r101_voc12aug_official_mmattn.pth --tta
# Test-server PNGs: the same checkpoint with eanet_r101_voc12aug_trainval.py (same model, test
# set = VOC 2012 test) and --tta --format-only.
_base_ = './eanet_r101_voc12aug.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(pretrained=None)  # every weight comes from the converted checkpoint
