"""Lambda layer benchmark: ours vs the ``lambda-networks`` port vs mmcv's NonLocal2d; Mask R-CNN.

Usage: ``.venv/bin/python bench/lambda_layer.py [--quick] [--threads N] [--clock wall|cpu]``

Prints markdown tables, every pair measured side by side in this run:
1. forward + backward time and peak memory of one layer, 256 -> 256 channels, batch 2, at
   32^2, 64^2 and 128^2 (``--quick``: 32^2 and 64^2): our ``LambdaLayer`` against
   ``lambda_networks.LambdaLayer`` (PyPI ``lambda-networks``, same k=16, h=4, u=1, r=23) and
   mmcv's ``NonLocal2d`` (embedded Gaussian self-attention, reduction 2);
2. the Mask R-CNN R50-FPN training step (forward + backward + SGD step) with the LambdaResNet-50
   hybrid of ``configs/mask_rcnn_lambda_r50_fpn_1x_coco.py`` against mmdet's plain R50.
Time and peak memory as defined in ``bench/common.py`` (best of interleaved runs; tensor bytes).

``--device cpu|cuda``: table 1 alone on that device (float32, bf16 and fp16 rows, median of
repeats; ``bench/common.py``), with each peer that imports.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: the repo root

from bench.common import (bench_parser, device_layer_table, interleaved_ms,  # noqa: E402
                          markdown_table, peak_memory_mb, start)
from bench.mask_rcnn import train_step_ms  # noqa: E402
from mmattn.layers import LambdaLayer  # noqa: E402

CHANNELS, BATCH = 256, 2
PAPER = dict(dim_k=16, heads=4, dim_u=1, r=23)


def _layers() -> dict:
    import lambda_networks
    from mmcv.cnn import NonLocal2d
    torch.manual_seed(0)
    return {
        'ours': LambdaLayer(CHANNELS, CHANNELS, **PAPER),
        'lambda-networks': lambda_networks.LambdaLayer(
            CHANNELS, dim_out=CHANNELS, dim_k=PAPER['dim_k'], heads=PAPER['heads'],
            dim_u=PAPER['dim_u'], r=PAPER['r']),
        'NonLocal2d': NonLocal2d(CHANNELS, reduction=2, mode='embedded_gaussian'),
    }


def bench_layers(sizes, repeats: int, clock: str) -> str:
    layers = _layers()
    rows = []
    for side in sizes:
        x = torch.randn(BATCH, CHANNELS, side, side, generator=torch.Generator().manual_seed(1))

        def step(layer, x=x):
            layer(x.requires_grad_()).sum().backward()
            x.grad = None

        fns = {name: (lambda layer=layer: step(layer)) for name, layer in layers.items()}
        times = interleaved_ms(fns, repeats, clock=clock)  # also warms up the memory runs
        memory = {name: peak_memory_mb(fn) for name, fn in fns.items()}
        label = f'{BATCH}x{CHANNELS}x{side}x{side}'
        for measure, values, unit in (('fwd+bwd time', times, 'ms'),
                                      ('peak memory', memory, 'MB')):
            ours = values['ours']
            theirs, nonlocal_ = values['lambda-networks'], values['NonLocal2d']
            rows.append((label, measure, f'{ours:.0f} {unit}', f'{theirs:.0f} {unit}',
                         f'{theirs / ours:.2f}x', f'{nonlocal_:.0f} {unit}',
                         f'{nonlocal_ / ours:.2f}x'))
    return markdown_table(
        f'LambdaLayer vs lambda-networks vs NonLocal2d: {CHANNELS} -> {CHANNELS} channels, '
        f'k=16, h=4, u=1, r=23, forward + backward, best of {repeats}',
        ('input', 'measure', 'ours', 'lambda-networks', 'ratio (theirs / ours)', 'NonLocal2d',
         'ratio (NL / ours)'), rows,
        note='Ratios above 1: ours is faster or holds less.')


def _plain_resnet(backbone: dict) -> None:
    """The hybrid's backbone settings on mmdet's ResNet-50 (the lambda keys dropped)."""
    for key in ('lambda_preset', 'lambda_cfg', 'lambda_norm_eval'):
        backbone.pop(key)
    backbone.type = 'mmdet.ResNet'


def bench_mask_rcnn(side: int, repeats: int, clock: str) -> str:
    config = 'mask_rcnn_lambda_r50_fpn_1x_coco.py'
    times = train_step_ms({'R50': (config, _plain_resnet), 'LambdaResNet-50': (config, None)},
                          BATCH, side, repeats, clock)
    ratio = times['LambdaResNet-50'] / times['R50']
    return markdown_table(
        f'Mask R-CNN R50-FPN train step, LambdaResNet-50 hybrid vs R50, best of {repeats}',
        ('Mask R-CNN FPN train step', 'input', 'R50', 'LambdaResNet-50 hybrid', 'ratio'),
        [('forward + backward + SGD', f'{BATCH}x3x{side}x{side}', f"{times['R50']:.0f} ms",
          f"{times['LambdaResNet-50']:.0f} ms", f'{ratio:.2f}x')])


def bench_on_device(device: torch.device, quick: bool) -> str:
    """Table 1 on ``device``: ours and each peer that imports, three precisions."""
    torch.manual_seed(0)
    makers = dict(ours=lambda: LambdaLayer(CHANNELS, CHANNELS, **PAPER))
    missing = []
    try:
        import lambda_networks
        makers['lambda-networks'] = lambda: lambda_networks.LambdaLayer(
            CHANNELS, dim_out=CHANNELS, dim_k=PAPER['dim_k'], heads=PAPER['heads'],
            dim_u=PAPER['dim_u'], r=PAPER['r'])
    except ImportError as error:
        missing.append(f'lambda-networks ({error})')
    try:
        from mmcv.cnn import NonLocal2d
        makers['NonLocal2d'] = lambda: NonLocal2d(CHANNELS, reduction=2,
                                                  mode='embedded_gaussian')
    except ImportError as error:
        missing.append(f'mmcv NonLocal2d ({error})')
    sides = {name: make().to(device).train() for name, make in makers.items()}
    sizes = (16, ) if device.type == 'cpu' else (32, 64) if quick else (32, 64, 128)
    inputs = {f'{BATCH}x{CHANNELS}x{side}x{side}':
              (lambda side=side: torch.randn(BATCH, CHANNELS, side, side, device=device))
              for side in sizes}
    table = device_layer_table(
        f'LambdaLayer vs its peers, {CHANNELS} -> {CHANNELS} channels, k=16, h=4, u=1, r=23',
        sides, inputs, device, repeats=3 if device.type == 'cpu' else 10 if quick else 30,
        backward=True)
    return table + (f'\nNot run (not importable): {"; ".join(missing)}\n' if missing else '')


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    start(args)
    if args.device:
        print(bench_on_device(torch.device(args.device), args.quick))
        return
    sizes = (32, 64) if args.quick else (32, 64, 128)
    repeats = 3 if args.quick else 5
    print(bench_layers(sizes, repeats, args.clock), flush=True)
    print(bench_mask_rcnn(256 if args.quick else 320, repeats, args.clock))


if __name__ == '__main__':
    main()
