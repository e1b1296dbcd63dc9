"""X-volution benchmark: deploy vs training form, PSSA vs SA scaling, Mask R-CNN train step.

Usage: ``.venv/bin/python bench/xvolution.py [--quick] [--threads N] [--clock wall|cpu]``

Prints markdown tables, every pair measured side by side in this run:
1. inference time of the training form (eval mode) vs the re-parameterised deploy form;
2. PSSA vs SA inference time and peak memory over square inputs (32^2..128^2);
3. Mask R-CNN R50-FPN train step (forward + backward + SGD step), X-volution stage 3 vs plain R50.
Time and peak memory as defined in ``bench/common.py`` (best of interleaved runs; tensor bytes).

``--device cpu|cuda``: PSSA (training and deploy form) and SA on that device, inference
(float32, bf16 and fp16 rows, median of repeats; ``bench/common.py``).
"""
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: the repo root

from bench.common import (bench_parser, device_layer_table, interleaved_ms,  # noqa: E402
                          markdown_table, peak_memory_mb, start)
from bench.mask_rcnn import train_step_ms  # noqa: E402
from mmattn.layers import XVolution  # noqa: E402


def _eval_module(attention: str, channels: int, stride: int, **kwargs) -> XVolution:
    torch.manual_seed(0)
    module = XVolution(channels, channels, stride=stride, attention=attention, **kwargs)
    module.train()
    with torch.no_grad():  # a few batches give the BNs non-trivial statistics
        for _ in range(2):
            module(torch.randn(2, channels, 16, 16))
    return module.eval()


def bench_deploy(quick: bool, clock: str) -> str:
    channels, size, repeats = (128, 32, 10) if quick else (256, 48, 20)
    rows = []
    cases = [('pssa', 1, {}), ('pssa', 2, {}), ('pssa', 1, dict(normalize='softmax')),
             ('sa', 1, {})]
    for attention, stride, kwargs in cases:
        training = _eval_module(attention, channels, stride, **kwargs)
        deploy = copy.deepcopy(training)
        deploy.switch_to_deploy()
        x = torch.randn(1, channels, size, size)
        with torch.inference_mode():
            times = interleaved_ms(dict(training=lambda: training(x), deploy=lambda: deploy(x)),
                                   repeats, clock=clock)
            expected = training(x)
            error = ((deploy(x) - expected).abs().max() / expected.abs().max()).item()
        name = f"{attention}{'/' + kwargs['normalize'] if kwargs else ''}, stride {stride}"
        rows.append((name, f'{channels}x{size}x{size}', f"{times['training']:.2f}",
                     f"{times['deploy']:.2f}", f"{times['training'] / times['deploy']:.2f}x",
                     f'{error:.1e}'))
    return markdown_table(
        f'Training form vs deploy form (inference, batch 1, best of {repeats})',
        ('X-volution (eval)', 'input C x H x W', 'training form ms', 'deploy form ms',
         'speed-up', 'max rel. diff'), rows)


def bench_scaling(quick: bool, clock: str) -> str:
    channels, repeats = (32, 3) if quick else (64, 5)
    rows = []
    modules = {attention: _eval_module(attention, channels, 1) for attention in ('pssa', 'sa')}
    for size in (32, 64, 96, 128):
        x = torch.randn(1, channels, size, size)
        with torch.inference_mode():
            fns = {name: (lambda m=m: m(x)) for name, m in modules.items()}
            times = interleaved_ms(fns, repeats, clock=clock)
            memory = {name: peak_memory_mb(fn) for name, fn in fns.items()}
        rows.append((f'{size}x{size}', f"{times['pssa']:.1f}", f"{times['sa']:.1f}",
                     f"{times['sa'] / times['pssa']:.1f}x", f"{memory['pssa']:.1f}",
                     f"{memory['sa']:.1f}"))
    return markdown_table(
        f'PSSA vs SA (inference, batch 1, best of {repeats})',
        (f'input (C={channels}, training form, eval)', 'PSSA ms', 'SA ms', 'SA / PSSA',
         'PSSA peak MB', 'SA peak MB'), rows)


def _plain_resnet(backbone: dict) -> None:
    """mmdet's ResNet-50 with the config's other settings (the dcn hook unused)."""
    backbone.pop('dcn')
    backbone.pop('stage_with_dcn')


def bench_mask_rcnn(quick: bool, clock: str) -> str:
    side, repeats = (256, 3) if quick else (320, 5)
    times = train_step_ms({
        'R50': ('mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py', _plain_resnet),
        'pssa': ('mask_rcnn_xvolution_pssa_r50_fpn_1x_coco.py', None),
        'sa': ('mask_rcnn_xvolution_sa_r50_fpn_1x_coco.py', None),
    }, batch=1, side=side, repeats=repeats, clock=clock)
    plain = times['R50']
    return markdown_table(
        f'Mask R-CNN R50-FPN train step, X-volution in stage 3 vs R50, best of {repeats}',
        ('Mask R-CNN R50-FPN train step, batch 1', 'image', 'plain R50 ms',
         'X-volution PSSA ms (ratio)', 'X-volution SA ms (ratio)'),
        [('stage 3 convs replaced', f'{side}x{side}', f'{plain:.0f}',
          f"{times['pssa']:.0f} ({times['pssa'] / plain:.2f}x)",
          f"{times['sa']:.0f} ({times['sa'] / plain:.2f}x)")])


def bench_on_device(device: torch.device, quick: bool) -> str:
    """PSSA in both forms and SA on ``device``, inference, three precisions."""
    channels = 128
    pssa = _eval_module('pssa', channels, 1)
    deploy = copy.deepcopy(pssa)
    deploy.switch_to_deploy()
    sides = {'PSSA (ours)': pssa.to(device), 'PSSA deploy form': deploy.to(device),
             'SA': _eval_module('sa', channels, 1).to(device)}
    sizes = (16, ) if device.type == 'cpu' else (32, 64) if quick else (32, 64, 96, 128)
    inputs = {f'1x{channels}x{size}x{size}':
              (lambda size=size: torch.randn(1, channels, size, size, device=device))
              for size in sizes}
    return device_layer_table(
        'X-volution PSSA vs its deploy form vs SA (eval mode)', sides, inputs, device,
        repeats=3 if device.type == 'cpu' else 10 if quick else 30, backward=False)


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    start(args)
    if args.device:
        print(bench_on_device(torch.device(args.device), args.quick))
        return
    for section in (bench_deploy, bench_scaling, bench_mask_rcnn):
        print(section(args.quick, args.clock), flush=True)


if __name__ == '__main__':
    main()
