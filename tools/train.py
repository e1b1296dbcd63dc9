"""Train an mmdet, mmseg or mmpretrain config (mmattn's or the user's) with mmengine's Runner.

    .venv/bin/python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] \
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

Multi-GPU / multi-process: tools/dist_train.sh CONFIG N. Without CUDA the processes use gloo.
"""
import argparse

import mmattn  # noqa: F401  (registers mmattn and installs its compatibility fixes)
from mmattn.apis.launch import (add_common_args, apply_train_args, build_runner,
                                config_from_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the latest checkpoint of the work dir '
                        'when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with loss scaling on CUDA, bf16 on CPU')
    parser.add_argument('--check-finite', action='store_true',
                        help='stop at the first NaN/inf input image or loss, naming it')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the lr linearly from the config's auto_scale_lr."
                        'base_batch_size to the real total batch (as mmdet/mmseg)')
    add_common_args(parser, example='train_cfg.max_iters=100')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    apply_train_args(cfg, args)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
