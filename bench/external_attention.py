"""External Attention benchmark: EA vs non-local self-attention, and EANet vs NL / DA models.

Usage: ``.venv/bin/python bench/external_attention.py [--quick] [--full-models] [--threads N]
[--sections operator scaling segmentors]``

Prints markdown tables, every pair measured side by side in this run:
1. params and MACs (mmengine's ``get_model_complexity_info``; it counts one multiply-add as one
   "flop") and inference time of EA vs mmcv's ``NonLocal2d`` at the paper's 1x512x128x128, with
   the paper's numbers for EA (0.55 M params, 9.2 GMACs, 32x fewer MACs than self-attention);
2. scaling over square inputs 32^2..128^2 (time per pixel stays flat for EA: linear cost);
3. EANet vs mmseg's NLHead (non-local) and DAHead models at 512x512 input: the decode heads on the
   R101-D8 stage-4 map (1x2048x64x64), and with ``--full-models`` the whole R101-D8 segmentors.
   Time per image and peak memory per image. Peak memory on CPU is the growth of the resident
   set size of a fresh subprocess during one forward: the peak counter (VmHWM) is reset after
   the model is built (``/proc/self/clear_refs``), there being no CPU allocator statistic.
"""
import argparse
import ctypes
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPER_EA_PARAMS_M = 0.55
PAPER_EA_GMACS = 9.2
PAPER_SA_OVER_EA_MACS = 32


def _times_ms(fn, repeats: int, warmup: int) -> list:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return times


def _median_ms(fn, repeats: int, warmup: int = 1) -> float:
    return statistics.median(_times_ms(fn, repeats, warmup))


def _best_ms(fn, repeats: int, warmup: int = 1) -> float:
    """Fastest run: on a CPU shared with other jobs, the least disturbed estimate."""
    return min(_times_ms(fn, repeats, warmup))


def _operator(kind: str, channels: int):
    """EA (training or deploy form) or mmcv NonLocal2d (reduction 2 or 1), in eval mode."""
    torch.manual_seed(0)
    if kind.startswith('nonlocal'):
        from mmcv.cnn import NonLocal2d

        # Embedded Gaussian. reduction=2 is mmcv's / mmseg NLHead's default; reduction=1 keeps
        # all C channels in query/key/value, the paper's self-attention baseline.
        return NonLocal2d(channels, reduction=int(kind[-1])).eval()
    from mmattn.layers import ExternalAttention

    module = ExternalAttention(channels, num_memory=64).eval()
    if kind == 'ea_deploy':
        module.switch_to_deploy()
    return module


_OPERATORS = {
    'ea': 'EA, S=64 (ours)',
    'ea_deploy': 'EA deploy form (ours)',
    'nonlocal_r2': 'NonLocal2d, reduction 2 (mmcv; NLHead default)',
    'nonlocal_r1': 'NonLocal2d, reduction 1 (= paper\'s self-attention)',
}


def _complexity(module, x):
    from mmengine.analysis import get_model_complexity_info

    info = get_model_complexity_info(module, inputs=(x, ), show_table=False, show_arch=False)
    return info['params'] / 1e6, info['flops'] / 1e9


def bench_operator(quick: bool) -> str:
    from mmengine.logging import MMLogger

    # The complexity analysis logs every operator it does not count (softmax, add, ...).
    MMLogger.get_instance('bench_external_attention', log_level='ERROR')
    channels, size = 512, 128
    x = torch.randn(1, channels, size, size)
    rows = {}
    for kind in _OPERATORS:
        module = _operator(kind, channels)
        params, gmacs = _complexity(module, x)
        # Non-local at 128x128 takes seconds per call: fewer repeats, and the complexity
        # analysis above (a traced forward) served as warm-up.
        repeats = (1 if quick else 2) if kind.startswith('nonlocal') else (3 if quick else 5)
        with torch.inference_mode():
            ms = _median_ms(lambda: module(x), repeats, warmup=0 if kind.startswith('n') else 1)
        rows[kind] = (params, gmacs, ms)
    ea_p, ea_g, ea_ms = rows['ea']
    lines = [
        f'### EA vs non-local self-attention at 1x{channels}x{size}x{size}', '',
        '| module | params (M) | MACs (G) | time (ms) | MACs / EA | time / EA |',
        '|---|---|---|---|---|---|'
    ]
    for kind, (params, gmacs, ms) in rows.items():
        lines.append(f'| {_OPERATORS[kind]} | {params:.3f} | {gmacs:.2f} | {ms:.0f} | '
                     f'{gmacs / ea_g:.2f}x | {ms / ea_ms:.2f}x |')
    sa_g = PAPER_EA_GMACS * PAPER_SA_OVER_EA_MACS
    lines += [
        f'| paper: EA | {PAPER_EA_PARAMS_M} | {PAPER_EA_GMACS} | - | 1x | - |',
        f'| paper: self-attention | - | ~{sa_g:.0f} | - | {PAPER_SA_OVER_EA_MACS}x | - |', '',
        f'Ours / paper for EA: params {ea_p / PAPER_EA_PARAMS_M:.2f}, '
        f'MACs {ea_g / PAPER_EA_GMACS:.2f}.', ''
    ]
    return '\n'.join(lines)


def bench_scaling(quick: bool) -> str:
    channels = 512
    sizes = (32, 64, 128) if quick else (32, 48, 64, 96, 128)
    ea, nonlocal_ = _operator('ea', channels), _operator('nonlocal_r2', channels)
    lines = [
        f'### Scaling with the number of pixels N ({channels} channels, NonLocal2d reduction 2, '
        'best of 3-7 runs)',
        '', '| H x W | N | EA ms | NonLocal2d ms | NL / EA | EA us per pixel | '
        'NL us per pixel |', '|---|---|---|---|---|---|---|'
    ]
    for size in sizes:
        x = torch.randn(1, channels, size, size)
        small = size <= 64
        with torch.inference_mode():
            ea_ms = _best_ms(lambda: ea(x), 7 if small else 3, warmup=2)
            nl_ms = _best_ms(lambda: nonlocal_(x), 5 if small else (1 if quick else 2),
                             warmup=1 if small else 0)
        pixels = size * size
        lines.append(f'| {size}x{size} | {pixels} | {ea_ms:.1f} | {nl_ms:.1f} | '
                     f'{nl_ms / ea_ms:.1f}x | {1000 * ea_ms / pixels:.2f} | '
                     f'{1000 * nl_ms / pixels:.2f} |')
    lines.append('')
    return '\n'.join(lines)


# --------------------------------------------------------------------------- segmentors

_SEG_CONFIGS = {
    'EANet (ours)': str(ROOT / 'configs' / 'eanet_r101_ade20k.py'),
    'NLHead (mmseg)': 'mmseg::nonlocal_net/nonlocal_r101-d8_4xb4-160k_ade20k-512x512.py',
    'DAHead (mmseg)': 'mmseg::danet/danet_r101-d8_4xb4-160k_ade20k-512x512.py',
}


def _rss_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ':'))


def _reset_peak_rss() -> None:
    """Give freed heap back to the OS, then restart the peak-RSS (VmHWM) counter (Linux)."""
    ctypes.CDLL('libc.so.6').malloc_trim(0)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def _worker(name: str, part: str, repeats: int) -> None:
    """Run in a fresh process: build, time one-image inference, report peak RSS growth (JSON)."""
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmattn  # noqa: F401

    path = _SEG_CONFIGS[name]
    cfg = get_config(path) if '::' in path else Config.fromfile(path)
    init_default_scope('mmseg')
    cfg.model.pretrained = None
    cfg.model.auxiliary_head = None  # not used at inference
    torch.manual_seed(0)
    if part == 'head':
        model = MODELS.build(cfg.model.decode_head)
        # The heads read inputs[in_index=3]: R101-D8 stage 4 of a 512x512 image.
        x = [torch.empty(0)] * 3 + [torch.randn(1, 2048, 64, 64)]
        run = lambda: model(x)  # noqa: E731
    else:
        model = MODELS.build(cfg.model)
        x = torch.randn(1, 3, 512, 512)
        run = lambda: model(x, mode='tensor')  # noqa: E731
    model = revert_sync_batchnorm(model).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    with torch.inference_mode():
        _reset_peak_rss()
        before = _rss_kb('VmRSS')
        run()  # first run: peak memory (and warm-up)
        peak_mb = (_rss_kb('VmHWM') - before) / 1024
        ms = _median_ms(run, repeats, warmup=0)
    print(json.dumps(dict(params=params, ms=ms, peak_mb=peak_mb)))


def _measure(name: str, part: str, repeats: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, '--worker', name, part, str(repeats),
           '--threads', str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_segmentors(quick: bool, full_models: bool, threads: int) -> str:
    parts = ['head'] + (['model'] if full_models else [])
    lines = []
    for part in parts:
        repeats = 1 if quick else (2 if part == 'model' else 3)
        what = ('decode head on the 1x2048x64x64 R101-D8 stage-4 map of a 512x512 image'
                if part == 'head' else 'whole R101-D8 segmentor, 1x3x512x512, mode=tensor')
        lines += [f'### EANet vs NLHead / DAHead: {what}', '',
                  '| model | params (M) | time per image (ms) | peak memory (MB) | '
                  'time / EANet | memory / EANet |', '|---|---|---|---|---|---|']
        results = {name: _measure(name, part, repeats, threads) for name in _SEG_CONFIGS}
        ref = results['EANet (ours)']
        for name, res in results.items():
            lines.append(f"| {name} | {res['params']:.2f} | {res['ms']:.0f} | "
                         f"{res['peak_mb']:.0f} | {res['ms'] / ref['ms']:.2f} | "
                         f"{res['peak_mb'] / max(ref['peak_mb'], 1e-9):.2f} |")
        lines.append('')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer sizes and repeats')
    parser.add_argument('--full-models', action='store_true',
                        help='also time whole R101-D8 segmentors (slow on CPU)')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--sections', nargs='+', default=['operator', 'scaling', 'segmentors'],
                        choices=['operator', 'scaling', 'segmentors'], help='what to run')
    parser.add_argument('--worker', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        name, part, repeats = args.worker
        _worker(name, part, int(repeats))
        return
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        pass
    print('## External Attention benchmark\n')
    print(f'machine: {cpu}, {args.threads} threads, torch {torch.__version__}, '
          f'date: {datetime.date.today().isoformat()}, mode: {"quick" if args.quick else "full"}'
          ', inference (eval, batch 1, float32); median time unless a table says otherwise. '
          'On a CPU shared with other jobs, --threads 1 gives the steadiest numbers\n')
    if 'operator' in args.sections:
        print(bench_operator(args.quick))
    if 'scaling' in args.sections:
        print(bench_scaling(args.quick))
    if 'segmentors' in args.sections:
        print(bench_segmentors(args.quick, args.full_models, args.threads))


if __name__ == '__main__':
    main()
