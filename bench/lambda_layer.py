"""Lambda layer benchmark: ours vs the ``lambda-networks`` port vs mmcv's NonLocal2d; Mask R-CNN.

Usage: ``.venv/bin/python bench/lambda_layer.py [--quick] [--threads N] [--clock wall|cpu]``

Prints markdown tables, every pair measured side by side in this run:
1. forward + backward time and peak memory of one layer, 256 -> 256 channels, batch 2, at
   32^2, 64^2 and 128^2 (``--quick``: 32^2 and 64^2): our ``LambdaLayer`` against
   ``lambda_networks.LambdaLayer`` (PyPI ``lambda-networks``, same k=16, h=4, u=1, r=23) and
   mmcv's ``NonLocal2d`` (embedded Gaussian self-attention, reduction 2);
2. the Mask R-CNN R50-FPN training step (forward + backward + SGD step) with the LambdaResNet-50
   hybrid of ``configs/mask_rcnn_lambda_r50_fpn_1x_coco.py`` against mmdet's plain R50.
Times are the best of interleaved runs (A B C A B C ...: load from other processes on a shared
machine hits every side alike); on a shared machine ``--threads 1 --clock cpu`` (CPU time of this
process) is far steadier than wall time. Peak memory is the most bytes held by tensors during one
forward + backward, above what was held before, from torch.profiler's allocator events.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmattn.layers import LambdaLayer  # noqa: E402

CHANNELS, BATCH = 256, 2
PAPER = dict(dim_k=16, heads=4, dim_u=1, r=23)


_CLOCKS = dict(wall=time.perf_counter, cpu=time.process_time)


def _interleaved_best_ms(fns: dict, repeats: int, clock: str) -> dict:
    """Best-of-``repeats`` milliseconds per function, the functions run interleaved."""
    now = _CLOCKS[clock]
    for fn in fns.values():  # warm-up: first-call allocations, oneDNN / FFT plans
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = now()
            fn()
            times[name].append(now() - start)
    return {name: 1000 * min(values) for name, values in times.items()}


def _peak_tensor_mb(fn) -> float:
    """Peak of the bytes held by tensors while ``fn`` runs, above what was held before.

    Read from torch.profiler's allocator events (CPU PyTorch keeps no allocator statistic, and
    the resident set of a shared process is too noisy to compare layers by).
    """
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as profiler:
        fn()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'trace.json')
        profiler.export_chrome_trace(path)
        with open(path) as trace:
            events = [e for e in json.load(trace)['traceEvents'] if e.get('name') == '[memory]']
    events.sort(key=lambda event: event['ts'])
    held_before = events[0]['args']['Total Allocated'] - events[0]['args']['Bytes']
    return (max(e['args']['Total Allocated'] for e in events) - held_before) / 2**20


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


def bench_layers(sizes, repeats: int, clock: str) -> list:
    layers = _layers()
    rows = ['| input | measure | ours | lambda-networks | ratio (theirs / ours) | NonLocal2d | '
            'ratio (NL / ours) |', '|---|---|---|---|---|---|---|']
    for side in sizes:
        x = torch.randn(BATCH, CHANNELS, side, side, generator=torch.Generator().manual_seed(1))

        def step(layer, x=x):
            layer(x.requires_grad_()).sum().backward()
            x.grad = None

        fns = {name: (lambda layer=layer: step(layer)) for name, layer in layers.items()}
        times = _interleaved_best_ms(fns, repeats, clock)  # also warms up the memory runs
        memory = {name: _peak_tensor_mb(fn) for name, fn in fns.items()}
        label = f'{BATCH}x{CHANNELS}x{side}x{side}'
        for measure, values, unit in (('fwd+bwd time', times, 'ms'),
                                      ('peak memory', memory, 'MB')):
            ours = values['ours']
            theirs, nonlocal_ = values['lambda-networks'], values['NonLocal2d']
            rows.append(f'| {label} | {measure} | {ours:.0f} {unit} | {theirs:.0f} {unit} | '
                        f'{theirs / ours:.2f}x | {nonlocal_:.0f} {unit} | '
                        f'{nonlocal_ / ours:.2f}x |')
    return rows


def _mask_rcnn(lambda_resnet: bool):
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    import mmattn  # noqa: F401
    cfg = Config.fromfile(str(ROOT / 'configs' / 'mask_rcnn_lambda_r50_fpn_1x_coco.py'))
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    if not lambda_resnet:  # mmdet's ResNet-50 with the same settings
        for key in ('lambda_preset', 'lambda_cfg', 'lambda_norm_eval'):
            backbone.pop(key)
        backbone.type = 'mmdet.ResNet'
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    return model


def _detection_batch(side: int) -> dict:
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(BATCH):
        inputs.append(torch.randint(0, 255, (3, side, side), generator=generator,
                                    dtype=torch.uint8))
        boxes = torch.tensor([[8., 16., side / 2, side / 2 + 16], [side / 3, 4., side - 8,
                                                                   side / 2]])
        masks = torch.zeros(2, side, side, dtype=torch.uint8)
        for index, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            masks[index, y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(side, side), ori_shape=(side, side),
                                             pad_shape=(side, side), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([1, 3]),
                                           masks=BitmapMasks(masks.numpy(), side, side))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def bench_mask_rcnn(side: int, repeats: int, clock: str) -> list:
    from mmengine.optim import build_optim_wrapper
    batch = _detection_batch(side)
    steps = {}
    for name, lambda_resnet in (('R50', False), ('LambdaResNet-50', True)):
        model = _mask_rcnn(lambda_resnet)
        optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.0,
                                                                       momentum=0.9)))
        steps[name] = (lambda m=model, o=optim_wrapper: m.train_step(batch, o))
    times = _interleaved_best_ms(steps, repeats, clock)
    ratio = times['LambdaResNet-50'] / times['R50']
    return ['| Mask R-CNN FPN train step | input | R50 | LambdaResNet-50 hybrid | ratio |',
            '|---|---|---|---|---|',
            f"| forward + backward + SGD | {BATCH}x3x{side}x{side} | {times['R50']:.0f} ms | "
            f"{times['LambdaResNet-50']:.0f} ms | {ratio:.2f}x |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='32^2 and 64^2 only, fewer runs')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--clock', choices=sorted(_CLOCKS), default='wall',
                        help='wall time, or CPU time of this process (steadier on a shared '
                        'machine, with --threads 1)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = (32, 64) if args.quick else (32, 64, 128)
    repeats = 3 if args.quick else 5
    print(f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
          f'{torch.get_num_threads()} torch threads, torch {torch.__version__}, load average '
          f'{os.getloadavg()[0]:.1f} at start, {args.clock} clock, best of {repeats}; '
          f'date {datetime.date.today().isoformat()}\n')
    print('\n'.join(bench_layers(sizes, repeats, args.clock)))
    print()
    print('\n'.join(bench_mask_rcnn(256 if args.quick else 320, repeats, args.clock)))


if __name__ == '__main__':
    main()
