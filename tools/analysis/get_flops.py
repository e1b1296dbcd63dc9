"""Parameters and FLOPs of a config's model (mmengine's complexity analysis).

    .venv/bin/python tools/analysis/get_flops.py CONFIG [--shape H W]

Counts the tensor forward that tools/deploy.py exports (segmentation: image -> logits;
detection: image -> backbone + neck features), in the training form, with
:func:`mmattn.apis.complexity`. mmengine counts one multiply-add as one "flop" (i.e. the number
is MACs, as mmdet/mmseg report). Operators it has no rule for are listed, so a silent
under-count is visible.
"""
import argparse

from mmattn.apis import complexity


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512], metavar=('H', 'W'))
    args = parser.parse_args(argv)
    result = complexity(args.config, args.shape)
    h, w = args.shape
    print(f'{args.config} at 1x3x{h}x{w}')
    print(f'  params: {result["params"] / 1e6:.2f} M')
    print(f'  FLOPs (multiply-adds): {result["flops"] / 1e9:.2f} G')
    if result['uncounted']:
        ops = ', '.join(f'{k} x{v}' for k, v in sorted(result['uncounted'].items()))
        print(f'  not counted (no FLOP rule; mostly element-wise): {ops}')
    return result


if __name__ == '__main__':
    main()
