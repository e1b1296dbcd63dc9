"""The documented commands for the authors' EANet, run as a user runs them on a tiny VOC folder:
convert the {'net': ...} file, evaluate with the official --tta, write the test-server PNGs."""
import os
import os.path as osp
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from official_eanet import OfficialEANet, normalise, official_test, randomise

SIZES = [(29, 37), (33, 26)]  # (height, width) of the two images


def _run(*args) -> str:
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """VOCdevkit/VOC2012 layout with two images listed in val.txt and test.txt; the val labels
    in SegmentationClassAug, where the official evaluation reads them."""
    root = tmp_path_factory.mktemp('voc')
    for folder in ('JPEGImages', 'SegmentationClassAug', 'ImageSets/Segmentation'):
        os.makedirs(root / folder)
    rng = np.random.default_rng(0)
    names = [f'2007_00000{i}' for i in range(len(SIZES))]
    for name, (height, width) in zip(names, SIZES):
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            root / 'JPEGImages' / f'{name}.jpg')
        Image.fromarray(rng.integers(0, 21, (height, width), dtype=np.uint8)).save(
            root / 'SegmentationClassAug' / f'{name}.png')
    for split in ('val', 'test'):
        (root / 'ImageSets/Segmentation' / f'{split}.txt').write_text('\n'.join(names) + '\n')
    return root, names


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """The reference official R50 saved as train_torch.py saves it, converted by the tool."""
    official = randomise(OfficialEANet(depth=50))
    folder = tmp_path_factory.mktemp('ckpt')
    torch.save({'net': official.state_dict(), 'step': 45000}, folder / 'final.pth')
    output = _run('tools/model_converters/eanet2mmattn.py', str(folder / 'final.pth'),
                  str(folder / 'converted.pth'), '--depth', '50')
    assert 'from an official eanet checkpoint' in output
    return official, str(folder / 'converted.pth')


def _options(data_root):
    """The R50 form of the configs (faster), data from the tiny folder, no worker processes."""
    return ['--cfg-options', 'model.backbone.depth=50',
            f'test_dataloader.dataset.data_root={data_root}', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False']


@pytest.mark.slow
def test_converted_checkpoint_evaluates_with_the_official_tta(tmp_path, voc_root, converted):
    root, names = voc_root
    official, checkpoint = converted
    out = tmp_path / 'png'
    _run('tools/test.py', 'configs/eanet_r101_voc12aug_official.py', checkpoint, '--tta',
         '--work-dir', str(tmp_path / 'work'), '--out', str(out), *_options(root))
    differs_from_single_scale = []
    for name in names:
        # decoded by PIL, as the official fetch() and the config's pipeline decode it
        rgb = torch.from_numpy(np.array(Image.open(root / 'JPEGImages' / f'{name}.jpg')))
        with torch.no_grad():
            expected = official_test(official, normalise(rgb)).argmax(1)[0].numpy()
            single_scale = official(normalise(rgb)).argmax(1)[0].numpy()
        predicted = np.array(Image.open(out / f'{name}.png'))
        assert np.array_equal(predicted, expected)
        differs_from_single_scale.append(not np.array_equal(expected, single_scale))
    assert any(differs_from_single_scale)  # so the comparison above proves --tta took effect


@pytest.mark.slow
def test_converted_checkpoint_writes_the_test_server_zip(tmp_path, voc_root, converted):
    root, names = voc_root
    _, checkpoint = converted
    submission = tmp_path / 'submission'
    _run('tools/test.py', 'configs/eanet_r101_voc12aug_trainval.py', checkpoint, '--tta',
         '--format-only', '--submission-dir', str(submission), '--work-dir',
         str(tmp_path / 'work'), *_options(root))
    with zipfile.ZipFile(submission / 'voc_results.zip') as archive:
        listed = sorted(osp.basename(name) for name in archive.namelist())
    assert listed == [f'{name}.png' for name in names]
