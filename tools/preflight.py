"""Check this machine before a long training run of CONFIG: devices, missing files, size, speed.

    .venv/bin/python tools/preflight.py CONFIG [--gpus N] [--iters K] [--amp] [--cfg-options ...]
                              [--json FILE] [--work-dir DIR]

Run it where you will train, from the directory you will train from (the configs' data and
checkpoint paths are relative to it). For the config as written (crop / input size, per-GPU
batch) it reports the devices (on CUDA: mmcv's CUDA kernels, SyncBN across 2 GPUs), every
missing file with its fix, parameters and multiply-adds, K training iterations on synthetic data
(seconds per iteration after a warm-up one, peak memory) and the ETA of the schedule on N
devices. Exit code 0 when nothing blocks the run, 1 otherwise. Details: mmattn/apis/preflight.py.
"""
import argparse
import json
import sys

from mmengine.config import DictAction

from mmattn.apis.preflight import format_report, preflight


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--gpus', type=int, default=None,
                        help='devices of the run (default: the visible CUDA devices, else 1)')
    parser.add_argument('--iters', type=int, default=10,
                        help='training iterations to time, the first a warm-up (0: skip)')
    parser.add_argument('--amp', action='store_true', help='time as tools/train.py --amp')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=4')
    parser.add_argument('--json', default=None, help='also write the result to this file')
    parser.add_argument('--work-dir', default=None,
                        help='where the timing run writes (default: a temporary folder)')
    args = parser.parse_args(argv)
    result = preflight(args.config, gpus=args.gpus, iters=args.iters, amp=args.amp,
                       cfg_options=args.cfg_options, work_dir=args.work_dir, verbose=True)
    print(format_report(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return 1 if result['problems'] else 0


if __name__ == '__main__':
    sys.exit(main())
