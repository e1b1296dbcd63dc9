"""External Attention benchmark: EA vs non-local self-attention, and EANet vs NL / DA models.

Usage: ``.venv/bin/python bench/external_attention.py [--quick] [--threads N] [--clock wall|cpu]
[--full-models] [--sections operator scaling segmentors]``

Prints markdown tables, every pair measured side by side in this run (inference: eval mode,
batch 1, float32, ``torch.inference_mode``):
1. params and MACs (mmengine's ``get_model_complexity_info``; it counts one multiply-add as one
   "flop") and time of EA vs mmcv's ``NonLocal2d`` at the paper's 1x512x128x128, with the
   paper's numbers for EA (0.55 M params, 9.2 GMACs, 32x fewer MACs than self-attention);
2. scaling over square inputs 32^2..128^2 (time per pixel stays flat for EA: linear cost);
3. EANet vs mmseg's NLHead (non-local) and DAHead models at 512x512 input: the decode heads on the
   R101-D8 stage-4 map (1x2048x64x64), and with ``--full-models`` the whole R101-D8 segmentors.
Time and peak memory as defined in ``bench/common.py`` (best of interleaved runs; tensor bytes).

``--device cpu|cuda``: the operators of table 2 alone on that device (EA, its deploy form and,
where mmcv imports, NonLocal2d; float32, bf16 and fp16 rows, median of repeats;
``bench/common.py``).
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: the repo root

from bench.common import (bench_parser, device_layer_table, interleaved_ms,  # noqa: E402
                          markdown_table, peak_memory_mb, start)

ROOT = Path(__file__).resolve().parents[1]
PAPER_EA_PARAMS_M = 0.55
PAPER_EA_GMACS = 9.2
PAPER_SA_OVER_EA_MACS = 32
SECTIONS = ('operator', 'scaling', 'segmentors')


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


def bench_operator(quick: bool, clock: str) -> str:
    from mmengine.logging import MMLogger

    # The complexity analysis logs every operator it does not count (softmax, add, ...).
    MMLogger.get_instance('bench_external_attention', log_level='ERROR')
    channels, size = 512, 128
    x = torch.randn(1, channels, size, size)
    modules = {kind: _operator(kind, channels) for kind in _OPERATORS}
    counts = {kind: _complexity(module, x) for kind, module in modules.items()}
    # Non-local at 128x128 takes seconds per call: the complexity analysis above (a traced
    # forward) serves as warm-up, and the best of 2 rounds drops a cold first one.
    repeats = 2 if quick else 3
    with torch.inference_mode():
        times = interleaved_ms({kind: (lambda m=m: m(x)) for kind, m in modules.items()},
                               repeats, warmup=0, clock=clock)
    ea_params, ea_gmacs = counts['ea']
    rows = [(_OPERATORS[kind], f'{params:.3f}', f'{gmacs:.2f}', f'{times[kind]:.0f}',
             f'{gmacs / ea_gmacs:.2f}x', f"{times[kind] / times['ea']:.2f}x")
            for kind, (params, gmacs) in counts.items()]
    rows += [('paper: EA', PAPER_EA_PARAMS_M, PAPER_EA_GMACS, '-', '1x', '-'),
             ('paper: self-attention', '-', f'~{PAPER_EA_GMACS * PAPER_SA_OVER_EA_MACS:.0f}', '-',
              f'{PAPER_SA_OVER_EA_MACS}x', '-')]
    return markdown_table(
        f'EA vs non-local self-attention at 1x{channels}x{size}x{size}, best of {repeats}',
        ('module', 'params (M)', 'MACs (G)', 'time (ms)', 'MACs / EA', 'time / EA'), rows,
        note=f'Ours / paper for EA: params {ea_params / PAPER_EA_PARAMS_M:.2f}, '
        f'MACs {ea_gmacs / PAPER_EA_GMACS:.2f}.')


def bench_scaling(quick: bool, clock: str) -> str:
    channels = 512
    sizes = (32, 64, 128) if quick else (32, 48, 64, 96, 128)
    ea, nonlocal_ = _operator('ea', channels), _operator('nonlocal_r2', channels)
    rows = []
    for size in sizes:
        x = torch.randn(1, channels, size, size)
        small = size <= 64
        with torch.inference_mode():
            times = interleaved_ms(dict(ea=lambda: ea(x), nl=lambda: nonlocal_(x)),
                                   repeats=5 if small else 2, warmup=1, clock=clock)
        pixels = size * size
        rows.append((f'{size}x{size}', pixels, f"{times['ea']:.1f}", f"{times['nl']:.1f}",
                     f"{times['nl'] / times['ea']:.1f}x", f"{1000 * times['ea'] / pixels:.2f}",
                     f"{1000 * times['nl'] / pixels:.2f}"))
    return markdown_table(
        f'Scaling with the number of pixels N ({channels} channels, NonLocal2d reduction 2, '
        'best of 5, of 2 above 64x64)',
        ('H x W', 'N', 'EA ms', 'NonLocal2d ms', 'NL / EA', 'EA us per pixel',
         'NL us per pixel'), rows)


_SEG_CONFIGS = {
    'EANet (ours)': str(ROOT / 'configs' / 'eanet_r101_ade20k.py'),
    'NLHead (mmseg)': 'mmseg::nonlocal_net/nonlocal_r101-d8_4xb4-160k_ade20k-512x512.py',
    'DAHead (mmseg)': 'mmseg::danet/danet_r101-d8_4xb4-160k_ade20k-512x512.py',
}


def _segmentor_part(path: str, part: str):
    """(model, its forward on a 512x512 image) for the decode head alone or the whole model."""
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmattn  # noqa: F401

    cfg = get_config(path) if '::' in path else Config.fromfile(path)
    init_default_scope('mmseg')
    cfg.model.pretrained = None
    cfg.model.auxiliary_head = None  # not used at inference
    torch.manual_seed(0)
    if part == 'head':
        model = MODELS.build(cfg.model.decode_head)
        # The heads read inputs[in_index=3]: R101-D8 stage 4 of a 512x512 image.
        x = [torch.empty(0)] * 3 + [torch.randn(1, 2048, 64, 64)]
        model = revert_sync_batchnorm(model).eval()
        return model, lambda: model(x)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    image = torch.randn(1, 3, 512, 512)
    return model, lambda: model(image, mode='tensor')


def bench_segmentors(quick: bool, clock: str, full_models: bool) -> str:
    tables = []
    for part in ['head'] + (['model'] if full_models else []):
        repeats = 3 if quick else 5
        what = ('decode head on the 1x2048x64x64 R101-D8 stage-4 map of a 512x512 image'
                if part == 'head' else 'whole R101-D8 segmentor, 1x3x512x512, mode=tensor')
        built = {name: _segmentor_part(path, part) for name, path in _SEG_CONFIGS.items()}
        with torch.inference_mode():
            times = interleaved_ms({name: run for name, (_, run) in built.items()}, repeats,
                                   clock=clock)
            memory = {name: peak_memory_mb(run) for name, (_, run) in built.items()}
        rows = []
        for name, (model, _) in built.items():
            params = sum(p.numel() for p in model.parameters()) / 1e6
            rows.append((name, f'{params:.2f}', f'{times[name]:.0f}', f'{memory[name]:.0f}',
                         f"{times[name] / times['EANet (ours)']:.2f}",
                         f"{memory[name] / memory['EANet (ours)']:.2f}"))
        tables.append(markdown_table(
            f'EANet vs NLHead / DAHead: {what}, best of {repeats}',
            ('model', 'params (M)', 'time per image (ms)', 'peak memory (MB)', 'time / EANet',
             'memory / EANet'), rows))
    return '\n'.join(tables)


def bench_on_device(device: torch.device, quick: bool) -> str:
    """EA, its deploy form and NonLocal2d (where mmcv imports) on ``device``, inference."""
    channels = 512
    kinds = ['ea', 'ea_deploy']
    missing = ''
    try:
        import mmcv.cnn  # noqa: F401
        kinds.append('nonlocal_r2')
    except ImportError as error:
        missing = f'\nNot run (not importable): mmcv NonLocal2d ({error})\n'
    labels = dict(ea='EA (ours)', ea_deploy='EA deploy form', nonlocal_r2='NonLocal2d r2')
    sides = {labels[kind]: _operator(kind, channels).to(device) for kind in kinds}
    sizes = (16, ) if device.type == 'cpu' else (32, 64) if quick else (32, 64, 128)
    inputs = {f'1x{channels}x{size}x{size}':
              (lambda size=size: torch.randn(1, channels, size, size, device=device))
              for size in sizes}
    return device_layer_table(
        f'EA (S=64) vs its deploy form vs NonLocal2d (mmcv, reduction 2), {channels} '
        'channels', sides, inputs, device,
        repeats=3 if device.type == 'cpu' else 10 if quick else 30, backward=False) + missing


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument('--full-models', action='store_true',
                        help='also time whole R101-D8 segmentors (slow on CPU)')
    parser.add_argument('--sections', nargs='+', default=list(SECTIONS), choices=SECTIONS,
                        help='what to run')
    args = parser.parse_args()
    start(args)
    if args.device:
        print(bench_on_device(torch.device(args.device), args.quick))
        return
    if 'operator' in args.sections:
        print(bench_operator(args.quick, args.clock), flush=True)
    if 'scaling' in args.sections:
        print(bench_scaling(args.quick, args.clock), flush=True)
    if 'segmentors' in args.sections:
        print(bench_segmentors(args.quick, args.clock, args.full_models))


if __name__ == '__main__':
    main()
