"""mmattn.apis.preflight (tools/preflight.py): missing files with their fixes, the schedule's
iterations, MACs and timing at the config's own input size and batch, exit codes and JSON.

Sizes are lowered with cfg options for speed where a test trains or counts MACs; the defaults
(the config's own sizes) are pinned separately.
"""
import importlib
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import REPO
from mmattn.apis import complexity
from mmattn.apis.preflight import preflight
from tiny_models import SEG_SMALL, tiny_mask_rcnn_options

SEG = osp.join(REPO, 'configs', 'eanet_r50_ade20k.py')  # 160k iterations, 2 images per GPU
DET = osp.join(REPO, 'configs', 'mask_rcnn_lambda_r50_fpn_1x_coco.py')  # 12 epochs, 2 per GPU
VOC = osp.join(REPO, 'configs', 'eanet_r50_voc12aug.py')  # ConcatDataset(VOC train, SBD aug)
VOC_TRAINVAL = osp.join(REPO, 'configs', 'eanet_r50_voc12aug_trainval.py')  # load_from stage 1
LSJ = osp.join(REPO, 'configs', 'mask_rcnn_lambda_r101_fpn_lsj_1024_200e_coco.py')
LEVIT = osp.join(REPO, 'configs', 'upernet_levit256_ade20k.py')

# a 640x480 image resized into 160x96: 128x96 (already a multiple of 32)
DET_SMALL = {
    'train_dataloader.dataset.pipeline.2.scale': (160, 96),
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
}


@pytest.fixture
def skip_macs(monkeypatch):
    """Files and schedules do not need the MAC count (a model build and trace): stub it."""
    module = importlib.import_module('mmattn.apis.preflight')  # the package, not the function
    monkeypatch.setattr(module, 'complexity', lambda cfg, size: dict(params=0, flops=0))


def _ade_tree(root) -> dict:
    """An ADE20K folder layout and a checkpoint file: the options that point the config there."""
    for sub in ('images/training', 'annotations/training', 'images/validation',
                'annotations/validation'):
        os.makedirs(osp.join(root, sub))
    checkpoint = osp.join(root, 'resnet50_v1c.pth')
    open(checkpoint, 'w').close()
    options = {f'{split}_dataloader.dataset.data_root': str(root)
               for split in ('train', 'val', 'test')}
    options['model.pretrained'] = checkpoint
    return options


def _coco_train_annotations(root, images) -> None:
    """instances_train2017.json with images given as (width, height, number of annotations)."""
    os.makedirs(osp.join(root, 'annotations'))
    coco = dict(images=[], annotations=[], categories=[dict(id=1, name='thing')])
    for idx, (width, height, count) in enumerate(images):
        coco['images'].append(dict(id=idx, file_name=f'{idx}.jpg', width=width, height=height))
        coco['annotations'] += [dict(id=len(coco['annotations']), image_id=idx, category_id=1,
                                     bbox=[0, 0, 8, 8], area=64, iscrowd=0)
                                for _ in range(count)]
    with open(osp.join(root, 'annotations', 'instances_train2017.json'), 'w') as f:
        json.dump(coco, f)


def _missing(result, path):
    return [item for item in result['missing_files'] if osp.normpath(item['path']) ==
            osp.normpath(str(path))]


@pytest.mark.usefixtures('skip_macs')
def test_a_missing_data_root_is_reported_once_with_its_fix(tmp_path):
    options = dict(SEG_SMALL, **_ade_tree(tmp_path / 'ade'))
    options['train_dataloader.dataset.data_root'] = str(tmp_path / 'nowhere')
    result = preflight(SEG, iters=0, cfg_options=options)
    item, = _missing(result, tmp_path / 'nowhere')
    assert item['needed_by'] == 'train' and item['blocking']
    assert 'docs/get_started.md#ade20k' in item['fix']
    assert len(result['missing_files']) == 1  # not also each folder below the missing root
    assert any(str(tmp_path / 'nowhere') in line and 'docs/get_started.md#ade20k' in line
               for line in result['problems'])


@pytest.mark.usefixtures('skip_macs')
def test_present_data_and_checkpoint_are_not_reported(tmp_path):
    options = dict(SEG_SMALL, **_ade_tree(tmp_path / 'ade'))
    result = preflight(SEG, iters=0, cfg_options=options)
    assert result['missing_files'] == [] and result['problems'] == []


@pytest.mark.usefixtures('skip_macs')
def test_a_missing_folder_under_a_present_root_is_reported(tmp_path):
    options = dict(SEG_SMALL, **_ade_tree(tmp_path / 'ade'))
    os.rmdir(tmp_path / 'ade' / 'annotations' / 'training')
    result = preflight(SEG, iters=0, cfg_options=options)
    assert [item['path'] for item in result['missing_files']] == [
        osp.join(str(tmp_path / 'ade'), 'annotations/training')]
    assert 'seg_map_path' in result['missing_files'][0]['what']


@pytest.mark.usefixtures('skip_macs')
def test_a_missing_test_set_warns_but_does_not_block_training(tmp_path):
    options = dict(SEG_SMALL, **_ade_tree(tmp_path / 'ade'))
    options['test_dataloader.dataset.data_root'] = str(tmp_path / 'test_only')
    result = preflight(SEG, iters=0, cfg_options=options)
    item, = _missing(result, tmp_path / 'test_only')
    assert not item['blocking'] and result['problems'] == []
    assert any(str(tmp_path / 'test_only') in line for line in result['warnings'])


@pytest.mark.usefixtures('skip_macs')
def _voc_tree(root, val_names=('a', )) -> dict:
    """VOC2012 folders, train.txt = 'a', val.txt = val_names; image 'a' with both labels."""
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'ImageSets/Segmentation'):
        os.makedirs(root / sub)
    for path in ('JPEGImages/a.jpg', 'SegmentationClass/a.png', 'SegmentationClassAug/a.png'):
        (root / path).touch()
    (root / 'ImageSets/Segmentation/train.txt').write_text('a\n')
    (root / 'ImageSets/Segmentation/val.txt').write_text('\n'.join(val_names) + '\n')
    return {'train_dataloader.dataset.datasets.0.data_root': str(root),
            'train_dataloader.dataset.datasets.1.data_root': str(root),
            'val_dataloader.dataset.data_root': str(root),
            'test_dataloader.dataset.data_root': str(root),
            'model.data_preprocessor.size': (64, 64)}


@pytest.mark.usefixtures('skip_macs')
def test_every_member_of_a_concatenated_dataset_is_checked(tmp_path):
    root = tmp_path / 'VOC2012'
    result = preflight(VOC, iters=0, cfg_options=_voc_tree(root))
    data = [item for item in result['missing_files'] if 'checkpoint' not in item['what']]
    # the SBD list of the second member (innermost_dataset alone sees the first)
    assert [item['path'] for item in data] == [
        osp.join(str(root), 'ImageSets/Segmentation/aug.txt')]


@pytest.mark.usefixtures('skip_macs')
def test_listed_val_images_without_their_label_are_reported_before_training(tmp_path):
    """mmseg's VOC converter writes no SegmentationClassAug label for most val images; the
    authors' configs read val labels there: found at the first validation, hours in."""
    root = tmp_path / 'VOC2012'
    options = _voc_tree(root, val_names=('a', 'b', 'c'))
    (root / 'JPEGImages/b.jpg').touch()
    (root / 'JPEGImages/c.jpg').touch()
    result = preflight(VOC, iters=0, cfg_options=options)
    item, = [item for item in result['missing_files'] if 'SegmentationClassAug' in item['path']]
    assert item['path'] == osp.join(str(root), 'SegmentationClassAug', 'b.png')
    assert '2 of the 3' in item['what'] and 'val.txt' in item['what']
    assert 'val' in item['needed_by'] and item['blocking']
    assert 'docs/get_started.md#pascal-voc' in item['fix']
    (root / 'SegmentationClassAug/b.png').touch()
    (root / 'SegmentationClassAug/c.png').touch()
    result = preflight(VOC, iters=0, cfg_options=options)
    assert not [item for item in result['missing_files'] if 'checkpoint' not in item['what']
                and 'aug.txt' not in item['path']]


@pytest.mark.usefixtures('skip_macs')
def test_missing_checkpoints_come_with_their_download_command():
    result = preflight(DET, iters=0, cfg_options=DET_SMALL)
    item, = _missing(result, 'checkpoints/resnet50-0676ba61.pth')
    assert item['fix'] == ('wget -P checkpoints '
                           'https://download.pytorch.org/models/resnet50-0676ba61.pth')
    assert item['needed_by'] == 'model init' and item['blocking']
    assert 'docs/get_started.md#coco' in _missing(result, 'data/coco/')[0]['fix']


@pytest.mark.usefixtures('skip_macs')
def test_a_converted_checkpoint_comes_with_download_and_conversion():
    result = preflight(LEVIT, iters=0, cfg_options={'model.data_preprocessor.size': (64, 64)})
    item, = _missing(result, 'checkpoints/levit-256_mmattn.pth')
    assert item['fix'] == (
        'wget -P checkpoints https://dl.fbaipublicfiles.com/LeViT/LeViT-256-13b5763e.pth && '
        '.venv/bin/python tools/model_converters/levit2mmattn.py checkpoints/LeViT-256-13b5763e.pth '
        'checkpoints/levit-256_mmattn.pth')


@pytest.mark.usefixtures('skip_macs')
def test_a_missing_load_from_of_an_earlier_stage_says_to_train_that_stage():
    cfg = Config.fromfile(VOC_TRAINVAL)
    assert cfg.load_from.startswith('work_dirs/eanet_r50_voc12aug/')
    result = preflight(VOC_TRAINVAL, iters=0,
                       cfg_options={'model.data_preprocessor.size': (64, 64)})
    item, = _missing(result, cfg.load_from)
    assert item['needed_by'] == 'load_from'
    assert 'train ' + osp.join(REPO, 'configs', 'eanet_r50_voc12aug.py') + ' first' in item['fix']
    # model init still reads the ImageNet weights before load_from replaces them
    assert _missing(result, cfg.model.pretrained)


@pytest.mark.usefixtures('skip_macs')
def test_epoch_schedule_counts_the_images_of_the_annotation_file(tmp_path):
    # 32 images mmdet trains on; 3 without annotations (filter_empty_gt), 1 below min_size 32:
    # either filter missed would make it 5 iterations per epoch
    _coco_train_annotations(tmp_path, [(64, 48, 2)] * 32 + [(64, 48, 0)] * 3 + [(20, 40, 1)])
    options = dict(DET_SMALL, **{'train_dataloader.dataset.data_root': str(tmp_path)})
    result = preflight(DET, gpus=4, iters=0, cfg_options=options)
    assert result['total_iters'] == 12 * math.ceil(32 / (4 * 2)) == 48
    assert 'instances_train2017.json' in result['schedule']


@pytest.mark.usefixtures('skip_macs')
def test_epoch_schedule_without_data_uses_the_known_size_of_coco():
    result = preflight(DET, gpus=8, iters=0, cfg_options=DET_SMALL)
    assert result['total_iters'] == 12 * math.ceil(117266 / 16) == 12 * 7330
    assert 'TRAIN_SET_SIZES' in result['schedule']
    assert result['eta_hours'] is None  # nothing timed


@pytest.mark.usefixtures('skip_macs')
def test_repeated_dataset_and_fp16_config_on_cpu():
    options = {'model.data_preprocessor.batch_augments.0.size': (64, 64)}
    result = preflight(LSJ, gpus=8, iters=0, cfg_options=options)
    # RepeatDataset x 8 of COCO, 25 epochs, 8 GPUs x 8 images
    assert result['total_iters'] == 25 * math.ceil(8 * 117266 / 64)
    assert result['input_size'] == [64, 64]
    assert any('AmpOptimWrapper' in line for line in result['problems'])


@pytest.mark.usefixtures('skip_macs')  # counting MACs at these sizes takes minutes on a CPU
def test_the_input_size_is_the_configs_own_by_default():
    expected = {SEG: [512, 512], osp.join(REPO, 'configs', 'eanet_r50_cityscapes.py'): [769, 769],
                # a 640x480 image into (1333, 800): 1067x800, padded to 32
                DET: [800, 1088], LSJ: [1024, 1024]}
    for config, size in expected.items():
        assert preflight(config, gpus=8, iters=0)['input_size'] == size, config


@pytest.mark.usefixtures('skip_macs')
def test_a_total_batch_other_than_the_recipes_warns():
    result = preflight(DET, gpus=1, iters=0, cfg_options=DET_SMALL)
    assert any("the recipe's is 16" in line and 'run on 8 devices' in line
               for line in result['warnings'])
    result = preflight(DET, gpus=8, iters=0, cfg_options=DET_SMALL)
    assert not any("the recipe's" in line for line in result['warnings'])


def test_one_timed_iteration_is_refused():
    with pytest.raises(ValueError, match='iters=1'):
        preflight(SEG, iters=1)


# ---- timed runs ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def seg_run(tmp_path_factory, synthetic_root):
    options = dict(SEG_SMALL, **{'train_dataloader.batch_size': 3})
    return options, preflight(SEG, iters=3, cfg_options=options, data_root=synthetic_root)


@pytest.fixture(scope='module')
def det_run(synthetic_root):
    # the config's Mask R-CNN with a narrow ResNet-50 (timing and MACs of any model will do)
    options = dict(DET_SMALL, **tiny_mask_rcnn_options(depth=50))
    return options, preflight(DET, gpus=8, iters=3, cfg_options=options,
                              data_root=synthetic_root)


@pytest.mark.slow
@pytest.mark.parametrize('run', ['seg_run', 'det_run'])
def test_timing_runs_the_configs_batch_at_the_size_of_the_macs(run, request):
    options, result = request.getfixturevalue(run)
    config = SEG if run == 'seg_run' else DET
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    expected_size = [64, 64] if run == 'seg_run' else [96, 128]
    assert result['input_size'] == result['trained_input_size'] == expected_size
    assert result['trained_batch_size'] == cfg.train_dataloader.batch_size
    assert result['macs'] == complexity(cfg, expected_size)['flops']
    assert result['iterations_timed'] == 2
    assert result['seconds_per_iter'] > 0 and result['peak_memory_mb'] > 0
    assert 'VmHWM' in result['memory_measure']


@pytest.mark.slow
def test_eta_of_an_iteration_schedule(seg_run):
    _, result = seg_run
    assert result['total_iters'] == 160000
    assert result['eta_hours'] == pytest.approx(result['seconds_per_iter'] * 160000 / 3600)


@pytest.mark.slow
def test_eta_of_an_epoch_schedule(det_run):
    _, result = det_run
    iterations = 12 * math.ceil(117266 / (8 * 2))
    assert result['eta_hours'] == pytest.approx(result['seconds_per_iter'] * iterations / 3600)


# ---- the command line ----------------------------------------------------------------------

def _tool(args, tmp_path):
    out = tmp_path / 'result.json'
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, 'tools/preflight.py', *args, '--json', str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return proc, json.loads(out.read_text())


def _cfg_options(options):
    return ['--cfg-options'] + [f'{key}={value}'.replace(' ', '') for key, value in
                                options.items()]


@pytest.mark.slow
def test_tool_exits_1_with_the_problems_and_0_when_nothing_blocks(tmp_path):
    proc, result = _tool([SEG, '--iters', '0'] + _cfg_options(SEG_SMALL), tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'data/ade/ADEChallengeData2016' in proc.stdout and 'BLOCKED' in proc.stdout
    assert result['problems']

    options = dict(SEG_SMALL, **_ade_tree(tmp_path / 'ade'))
    proc, result = _tool([SEG, '--iters', '0'] + _cfg_options(options), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'nothing blocks the run' in proc.stdout and result['problems'] == []


@pytest.mark.slow
def test_tool_json_has_every_key_with_its_type(tmp_path, synthetic_root):
    proc, result = _tool([SEG, '--iters', '2'] + _cfg_options(SEG_SMALL), tmp_path)
    types = dict(device=dict, mmcv_ops_cuda=type(None), missing_files=list, params=int,
                 macs=int, seconds_per_iter=float, peak_memory_mb=float, eta_hours=float,
                 problems=list)
    assert {key: type(result[key]) for key in types} == types
    assert result['device']['type'] == 'cpu'  # mmcv_ops_cuda: null without CUDA
    assert all(isinstance(line, str) for line in result['problems'])
    assert set(result['missing_files'][0]) == {'path', 'what', 'needed_by', 'blocking', 'fix'}
