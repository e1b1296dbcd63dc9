"""Images/s of mmattn's fused LeViT against timm's fused LeViT, measured side by side.

    .venv/bin/python bench/levit.py [--quick] [--threads N] [--clock wall|cpu]

At 224x224 both run the same converted weights in their deploy form (every Linear/Conv + BN
folded: ``switch_to_deploy()`` for ours, timm's ``ConvNorm.fuse()`` / ``LinearNorm.fuse()`` for
theirs) and both stop at the last stage's features (no classifier); the table also gives the
largest output difference as a check that the same function is timed. Ours also runs at
512x512 and 512x1024, which timm's LeViT cannot take. A second table times the two attention
kernels our blocks choose between (the explicit ``softmax(q k^T + B) v`` product and PyTorch's
fused ``scaled_dot_product_attention``) at the token counts of a 224x224 and a 512x1024 input's
first stage. Time as defined in ``bench/common.py`` (best of interleaved runs).

``--device cpu|cuda``: the fused models alone on that device at 224x224 (float32, bf16 and
fp16 rows, median of repeats; ``bench/common.py``); ours needs OpenMMLab (the backbone is an
mmengine module), timm is the peer where it imports.

timm is a test/benchmark peer only (imported behind the tests' torchvision stand-in,
``tests/torchvision_stub.py``).
"""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: the repo root

from bench.common import (bench_parser, device_layer_table, interleaved_ms,  # noqa: E402
                          markdown_table, start)


def _fuse_timm(module: nn.Module) -> nn.Module:
    """Replace every timm ConvNorm / LinearNorm by the layer its own ``fuse()`` returns."""
    for name, child in module.named_children():
        if type(child).__name__ in ('ConvNorm', 'LinearNorm'):
            setattr(module, name, child.fuse())
        else:
            _fuse_timm(child)
    return module


def bench_models(quick: bool, clock: str) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
    from levit_oracle import randomise_levit_statistics, timm_behind_standin
    with timm_behind_standin() as timm:
        return _bench_models(timm, randomise_levit_statistics, quick, clock)


def _bench_models(timm, randomise_levit_statistics, quick: bool, clock: str) -> str:
    from mmattn.models.backbones.levit import LeViT
    from mmattn.models.converters import convert_levit
    repeats, batch = (5, 4) if quick else (25, 16)
    torch.manual_seed(0)
    rows = []
    for arch in ('128s', '256'):
        reference = randomise_levit_statistics(
            timm.create_model(f'levit_{arch}', pretrained=False, num_classes=0)).eval()
        ours = LeViT(arch, out_indices=(4, )).eval()
        ours.load_state_dict(convert_levit(reference.state_dict()))
        ours.switch_to_deploy()
        theirs = _fuse_timm(reference).eval()
        name = f'LeViT-{arch.upper()}'

        x = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            ours_out = ours(x)[0].flatten(2).transpose(1, 2)  # B, tokens, C as timm's
            diff = (ours_out - theirs.forward_features(x)).abs().max().item()
            times = interleaved_ms(dict(ours=lambda: ours(x),
                                        timm=lambda: theirs.forward_features(x)),
                                   repeats, warmup=2, clock=clock)
        ours_ips, timm_ips = (1000 * batch / times[side] for side in ('ours', 'timm'))
        rows.append((name, f'{batch}x3x224x224', f'{ours_ips:.1f}', f'{timm_ips:.1f}',
                     f'{ours_ips / timm_ips:.2f}x', f'{diff:.1e}'))
        for height, width in ((512, 512), (512, 1024)):
            big = torch.randn(1, 3, height, width)
            with torch.inference_mode():
                (ms, ) = interleaved_ms(dict(ours=lambda: ours(big)), max(3, repeats // 3),
                                        clock=clock).values()
            rows.append((name, f'1x3x{height}x{width}', f'{1000 / ms:.1f}', '-', '-',
                         'timm: fixed 224 grid'))
    return markdown_table(
        f'Fused LeViT, last-stage features, float32: mmattn vs timm {timm.__version__}, '
        f'best of {repeats} (of {max(3, repeats // 3)} for one-model rows)',
        ('model', 'input', 'mmattn img/s', 'timm img/s', 'mmattn / timm', 'max abs diff'), rows)


def bench_attention_kernels(quick: bool, clock: str) -> str:
    """The explicit product vs the fused kernel, LeViT-128S stage-1 shapes (4 heads, D 16 / 32)."""
    repeats = 10 if quick else 30
    heads, key_dim, value_dim = 4, 16, 32
    rows = []
    for tokens, source in ((196, '224x224'), (2048, '512x1024')):
        gen = torch.Generator().manual_seed(0)
        q, k = (torch.randn(1, heads, tokens, key_dim, generator=gen) for _ in range(2))
        v = torch.randn(1, heads, tokens, value_dim, generator=gen)
        bias = torch.randn(heads, tokens, tokens, generator=gen)
        scale = key_dim**-0.5
        with torch.inference_mode():
            times = interleaved_ms(dict(
                explicit=lambda: ((q @ k.transpose(-2, -1)) * scale + bias).softmax(-1) @ v,
                fused=lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                                             scale=scale)),
                repeats, clock=clock)
        rows.append((f'{tokens} x {tokens}', source, f"{times['explicit']:.3f}",
                     f"{times['fused']:.3f}", f"{times['fused'] / times['explicit']:.2f}x"))
    return markdown_table(
        f'LeViT attention kernels, {heads} heads, key dim {key_dim}, value dim {value_dim}, '
        f'batch 1, best of {repeats}',
        ('query x key tokens', 'stage-1 grid of', 'explicit ms', 'fused ms',
         'fused / explicit'), rows,
        note='Our blocks take the fused kernel from 2048 x 1024 query-key pairs per head on '
        '(and always on CUDA): above 1 the explicit product is faster.')


def bench_on_device(device: torch.device, quick: bool) -> str:
    """Fused LeViT-128S / 256 (ours, and timm's where it imports) on ``device``, inference."""
    try:
        from mmattn.models.backbones.levit import LeViT
        from mmattn.models.converters import convert_levit
    except ImportError as error:
        return f'Not run: our LeViT backbone needs OpenMMLab ({error})\n'
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
    from levit_oracle import randomise_levit_statistics, timm_behind_standin
    batch = 2 if device.type == 'cpu' else 32 if quick else 128
    tables = []
    with timm_behind_standin() as timm:
        for arch in ('128s', '256'):
            torch.manual_seed(0)
            reference = randomise_levit_statistics(
                timm.create_model(f'levit_{arch}', pretrained=False, num_classes=0)).eval()
            ours = LeViT(arch, out_indices=(4, )).eval()
            ours.load_state_dict(convert_levit(reference.state_dict()))
            ours.switch_to_deploy()
            theirs = _fuse_timm(reference).eval().to(device)
            sides = {'mmattn': ours.to(device), 'timm': theirs.forward_features}
            inputs = {f'{batch}x3x224x224':
                      (lambda: torch.randn(batch, 3, 224, 224, device=device))}
            tables.append(device_layer_table(
                f'Fused LeViT-{arch.upper()}, last-stage features, mmattn vs timm '
                f'{timm.__version__}', sides, inputs, device,
                repeats=3 if device.type == 'cpu' else 10 if quick else 30, backward=False))
    return '\n'.join(tables)


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    start(args)
    if args.device:
        print(bench_on_device(torch.device(args.device), args.quick))
        return
    print(bench_models(args.quick, args.clock), flush=True)
    print(bench_attention_kernels(args.quick, args.clock))


if __name__ == '__main__':
    main()
