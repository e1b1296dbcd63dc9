"""Check that a config builds and runs: a few training iterations and a test on synthetic data.

    .venv/bin/python tools/smoke_test.py CONFIG [--iters 1] [--deploy] [--amp] [--work-dir DIR]

The model, pipelines and metrics are the config's; datasets become mmattn's tiny synthetic sets
and image sizes shrink (see mmattn/utils/smoke.py). Minutes on a CPU, no data download.
"""
import argparse
import os.path as osp

from mmattn.apis import run_smoke_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=1)
    parser.add_argument('--deploy', action='store_true', help='test the deploy form')
    parser.add_argument('--amp', action='store_true', help='train under bf16 autocast (CPU)')
    parser.add_argument('--work-dir', default=None)
    args = parser.parse_args()
    work_dir = args.work_dir or osp.join(
        'work_dirs', 'smoke', osp.splitext(osp.basename(args.config))[0])
    result = run_smoke_test(args.config, work_dir, deploy=args.deploy, amp=args.amp,
                            iters=args.iters)
    print(f"[smoke] {args.config}: train loss {result['train_loss']:.4f}, "
          f"test metrics {result['metrics']}")


if __name__ == '__main__':
    main()
