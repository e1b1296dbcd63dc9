"""Evaluate a checkpoint of an mmdet, mmseg or mmpretrain config with mmengine's Runner.

    .venv/bin/python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE|DIR] [--show] \
        [--show-dir DIR] [--tta] [--deploy] [--cfg-options k=v ...] [--launcher ...]

--tta: the config's multi-scale + flip protocol (tta_model / tta_pipeline).
--deploy: evaluate the re-parameterised form (mmattn.utils.switch_to_deploy after loading).
--out: detection and classification: a .pkl of raw results; segmentation: a folder of one PNG
    per image.
--format-only: leaderboard submission (COCO test-dev, ADE20K, Cityscapes, VOC) zipped in
    --submission-dir (default {work_dir}/submission); see README "Submitting to a server".
"""
import argparse

from mmengine.dist import is_main_process

import mmattn  # noqa: F401  (registers mmattn and installs its compatibility fixes)
from mmattn.apis.launch import (add_common_args, apply_test_args, build_runner,
                                config_from_args)
from mmattn.utils.config import host_library
from mmattn.utils.submission import pack_submission


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='detection: dump results to this .pkl; segmentation: '
                        'write prediction PNGs to this folder')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save drawn predictions to this folder')
    parser.add_argument('--tta', action='store_true', help='multi-scale + flip test')
    parser.add_argument('--deploy', action='store_true',
                        help='evaluate the re-parameterised (deploy) form of the model')
    parser.add_argument('--format-only', action='store_true',
                        help='write a server submission instead of computing metrics')
    parser.add_argument('--submission-dir', help='where --format-only writes (default: '
                        '{work_dir}/submission)')
    parser.add_argument('--alg-name', default='mmattn',
                        help='algorithm name in COCO result file names')
    add_common_args(parser, example='test_dataloader.batch_size=2')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    apply_test_args(cfg, args)
    runner = build_runner(cfg)
    metrics = runner.test()
    if args.format_only and is_main_process():
        zips = pack_submission(cfg, host_library(cfg), args.submission_dir, alg=args.alg_name)
        for track, path in zips.items():
            print(f'[submission] {track}: {path}')
    return metrics


if __name__ == '__main__':
    main()
