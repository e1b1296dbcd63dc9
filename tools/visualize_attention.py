"""Visualise External Attention maps of an mmseg or mmdet model on one image.

    .venv/bin/python tools/visualize_attention.py CONFIG CHECKPOINT IMAGE [--out-dir DIR] \
        [--units 0 5 ...] [--num-units 4] [--device cpu]

Writes, per EA module, one PNG per memory unit (its normalised attention map over the image)
and a strip of them beside the image: :func:`mmattn.apis.visualize_attention`.
"""
import argparse
from typing import Dict, List, Optional, Sequence

from mmattn.apis import visualize_attention


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config (mmseg or mmdet)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('image', help='image file')
    parser.add_argument('--out-dir', default='work_dirs/attention_maps',
                        help='where the PNGs go (default: %(default)s)')
    parser.add_argument('--units', type=int, nargs='+', default=None,
                        help='memory units to show (default: the most varying ones)')
    parser.add_argument('--num-units', type=int, default=4,
                        help='how many units to pick when --units is not given')
    parser.add_argument('--alpha', type=float, default=0.5, help='weight of the heat map')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    args = parser.parse_args(argv)
    written = visualize_attention(args.config, args.checkpoint, args.image, args.out_dir,
                                  args.units, args.num_units, args.alpha, args.device)
    for name, paths in written.items():
        print(f'{name}: {len(paths)} files in {args.out_dir}')
    return written


if __name__ == '__main__':
    main()
