"""End-to-end demo: train EANet on a synthetic segmentation set, evaluate, draw predictions.

    .venv/bin/python tools/demo.py [--iters 600] [--work-dir work_dirs/demo]

Writes the ADE20K-style synthetic set (96 training, 24 held-out images, 64x96, 5 shape classes
plus background) to ``{work_dir}/data``, trains ``configs/demo_eanet_r18_synthetic.py`` with
mmengine's Runner (log every 50 iterations, with ETA), evaluates mIoU on the held-out images,
and writes one PNG per held-out image (image | ground truth | prediction) to
``{work_dir}/predictions`` (:func:`mmattn.apis.run_demo`). About a minute on 2 CPU cores.
"""
import argparse

from mmattn.apis import run_demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=600, help='training iterations')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    args = parser.parse_args(argv)
    return run_demo(args.work_dir, args.iters)


if __name__ == '__main__':
    main()
