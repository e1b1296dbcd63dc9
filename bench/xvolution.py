"""X-volution benchmark: deploy vs training form, PSSA vs SA scaling, Mask R-CNN train step.

Usage: ``.venv/bin/python bench/xvolution.py [--quick] [--threads N]``

Prints markdown tables, every pair measured side by side in this run:
1. inference time of the training form (eval mode) vs the re-parameterised deploy form;
2. PSSA vs SA inference time and peak memory over square inputs (32^2..128^2);
3. Mask R-CNN R50-FPN train step (forward + backward + SGD step), X-volution stage 3 vs plain R50.
Timings are best-of-N with the compared sides interleaved (the machine may be shared); peak memory
on CPU is the growth of the resident set's high-water mark during one forward (Linux /proc).
"""
import argparse
import datetime
import copy
import ctypes
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmattn.layers import XVolution  # noqa: E402


def _interleaved_ms(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Best-of-``repeats`` milliseconds per function, runs interleaved (A B A B ...)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * min(values) for name, values in times.items()}


def _status_mb(field: str) -> float:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def _peak_memory_mb(fn) -> float:
    """High-water-mark growth of the resident set while ``fn`` runs (writing 5 to clear_refs
    resets the mark; CPU PyTorch has no allocator statistic)."""
    ctypes.CDLL('libc.so.6').malloc_trim(0)  # give freed heap back, so that new use shows
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')
    before = _status_mb('VmRSS')
    fn()
    return _status_mb('VmHWM') - before


def _eval_module(attention: str, channels: int, stride: int, **kwargs) -> XVolution:
    torch.manual_seed(0)
    module = XVolution(channels, channels, stride=stride, attention=attention, **kwargs)
    module.train()
    with torch.no_grad():  # a few batches give the BNs non-trivial statistics
        for _ in range(2):
            module(torch.randn(2, channels, 16, 16))
    return module.eval()


def bench_deploy(quick: bool) -> list:
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
            timings = _interleaved_ms(dict(training=lambda: training(x),
                                           deploy=lambda: deploy(x)), repeats)
            expected = training(x)
            error = ((deploy(x) - expected).abs().max() / expected.abs().max()).item()
        name = f"{attention}{'/' + kwargs['normalize'] if kwargs else ''}, stride {stride}"
        rows.append(f"| {name} | {channels}x{size}x{size} | {timings['training']:.2f} | "
                    f"{timings['deploy']:.2f} | {timings['training'] / timings['deploy']:.2f}x | "
                    f'{error:.1e} |')
    return ['| X-volution (eval) | input C x H x W | training form ms | deploy form ms | '
            'speed-up | max rel. diff |', '|---|---|---|---|---|---|'] + rows


def bench_scaling(quick: bool) -> list:
    channels, repeats = (32, 3) if quick else (64, 5)
    rows = []
    modules = {attention: _eval_module(attention, channels, 1) for attention in ('pssa', 'sa')}
    for size in (32, 64, 96, 128):
        x = torch.randn(1, channels, size, size)
        with torch.inference_mode():
            timings = _interleaved_ms({name: (lambda m=m: m(x)) for name, m in modules.items()},
                                      repeats)
            memory = {name: _peak_memory_mb(lambda m=m: m(x)) for name, m in modules.items()}
        rows.append(f"| {size}x{size} | {timings['pssa']:.1f} | {timings['sa']:.1f} | "
                    f"{timings['sa'] / timings['pssa']:.1f}x | {memory['pssa']:.1f} | "
                    f"{memory['sa']:.1f} |")
    return [f'| input (C={channels}, training form, eval) | PSSA ms | SA ms | SA / PSSA | '
            'PSSA peak MB | SA peak MB |', '|---|---|---|---|---|---|'] + rows


def _mask_rcnn(attention):
    """Mask R-CNN R50-FPN of our config; ``attention`` None gives mmdet's plain R50."""
    from mmengine.config import Config

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    import mmattn  # noqa: F401
    root = Path(__file__).resolve().parents[1]
    name = f"mask_rcnn_xvolution_{attention or 'pssa'}_r50_fpn_1x_coco.py"
    cfg = Config.fromfile(str(root / 'configs' / name))
    cfg.model.backbone.init_cfg = None
    if attention is None:
        cfg.model.backbone.pop('dcn')
        cfg.model.backbone.pop('stage_with_dcn')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)  # constructor init: enough for timing
    model.train()
    return model


def _detection_batch(size: int):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 255, (3, size, size), generator=generator, dtype=torch.uint8)
    boxes = torch.tensor([[10., 20., size / 2, size / 2 + 20], [size / 3, 5., size - 8, size / 2]])
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    for index, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
        masks[index, y1:y2, x1:x2] = 1
    sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                         pad_shape=(size, size), scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([1, 3]),
                                       masks=BitmapMasks(masks.numpy(), size, size))
    return dict(inputs=[image], data_samples=[sample])


def bench_mask_rcnn(quick: bool) -> list:
    from mmengine.optim import build_optim_wrapper
    size, repeats = (256, 3) if quick else (320, 5)
    batch = _detection_batch(size)
    steps = {}
    for attention in (None, 'pssa', 'sa'):
        model = _mask_rcnn(attention)
        optim_wrapper = build_optim_wrapper(
            model, dict(optimizer=dict(type='SGD', lr=0.0, momentum=0.9)))
        steps[attention] = (lambda m=model, o=optim_wrapper: m.train_step(batch, o))
    timings = _interleaved_ms(steps, repeats)
    plain = timings[None]
    return ['| Mask R-CNN R50-FPN train step, batch 1 | image | plain R50 ms | '
            'X-volution PSSA ms (ratio) | X-volution SA ms (ratio) |', '|---|---|---|---|---|',
            f"| stage 3 convs replaced | {size}x{size} | {plain:.0f} | "
            f"{timings['pssa']:.0f} ({timings['pssa'] / plain:.2f}x) | "
            f"{timings['sa']:.0f} ({timings['sa'] / plain:.2f}x) |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='smaller sizes, fewer repeats')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1: steadier on a shared machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor()
    print(f'# X-volution benchmark\n\nmachine: {platform.machine()} {device or "CPU"}, '
          f'{torch.get_num_threads()} torch threads, torch {torch.__version__}, CPU fp32; '
          f'date: {datetime.date.today()}; {"--quick" if args.quick else "full"}\n')
    for title, section in (('Training form vs deploy form (inference)', bench_deploy),
                           ('PSSA vs SA (inference)', bench_scaling),
                           ('Mask R-CNN train step', bench_mask_rcnn)):
        print(f'## {title}\n')
        try:
            lines = section(args.quick)
        except ImportError as error:  # the detection section needs mmdet (tools/install.sh)
            lines = [f'not measured: {error}']
        print('\n'.join(lines) + '\n', flush=True)


if __name__ == '__main__':
    main()
