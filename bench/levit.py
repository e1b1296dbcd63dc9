"""Images/s of mmattn's fused LeViT against timm's fused LeViT, measured side by side.

    .venv/bin/python bench/levit.py [--quick] [--threads N] [--clock wall|cpu]

At 224x224 both run the same converted weights in their deploy form (every Linear/Conv + BN
folded: ``switch_to_deploy()`` for ours, timm's ``ConvNorm.fuse()`` / ``LinearNorm.fuse()`` for
theirs) and both stop at the last stage's features (no classifier); the table also gives the
largest output difference as a check that the same function is timed. Ours also runs at
512x512 and 512x1024, which timm's LeViT cannot take. Runs of the two models interleave (in
shuffled order) so that load from other processes on a shared machine hits both alike; the
median is reported.
On a shared machine ``--threads 1 --clock cpu`` (CPU time of this process) is steadier.

timm is a test/benchmark peer only (imported behind mmattn.testing's torchvision stand-in).
"""
import argparse
import datetime
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _fuse_timm(module: nn.Module) -> nn.Module:
    """Replace every timm ConvNorm / LinearNorm by the layer its own ``fuse()`` returns."""
    for name, child in module.named_children():
        if type(child).__name__ in ('ConvNorm', 'LinearNorm'):
            setattr(module, name, child.fuse())
        else:
            _fuse_timm(child)
    return module


class _TimmFeatures(nn.Module):
    """timm LeViT up to the last stage (what ``forward_features`` computes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_features(x)


def _median_seconds(fns, inputs, reps, warmup, clock):
    times = [[] for _ in fns]
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns:
                fn(inputs)
        order = list(range(len(fns)))
        shuffle = random.Random(0).shuffle
        for _ in range(reps):
            shuffle(order)  # neither model always runs first (allocator and cache state)
            for i in order:
                start = clock()
                fns[i](inputs)
                times[i].append(clock() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='fewer repetitions, batch 4')
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: all)')
    parser.add_argument('--clock', choices=('wall', 'cpu'), default='wall',
                        help="'cpu' counts this process's CPU time (steadier on a shared "
                        "machine; use with --threads 1)")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == 'wall' else time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    reps, warmup, batch = (5, 2, 4) if args.quick else (25, 3, 16)

    from mmattn.models.backbones.levit import LeViT
    from mmattn.models.converters import convert_levit
    from mmattn.testing import import_timm, randomise_levit_statistics
    timm = import_timm()

    torch.manual_seed(0)
    rows = []
    for arch in ('128s', '256'):
        reference = randomise_levit_statistics(
            timm.create_model(f'levit_{arch}', pretrained=False, num_classes=0)).eval()
        ours = LeViT(arch, out_indices=(4, )).eval()
        ours.load_state_dict(convert_levit(reference.state_dict()))
        ours.switch_to_deploy()
        theirs = _TimmFeatures(_fuse_timm(reference)).eval()

        x = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            ours_out = ours(x)[0].flatten(2).transpose(1, 2)
            diff = (ours_out - theirs(x)).abs().max().item()
        ours_s, timm_s = _median_seconds([lambda t: ours(t), lambda t: theirs(t)], x, reps,
                                         warmup, clock)
        rows.append((f'LeViT-{arch.upper()}', f'{batch}x3x224x224', batch / ours_s,
                     batch / timm_s, f'{diff:.1e}'))
        for height, width in ((512, 512), (512, 1024)):
            big = torch.randn(1, 3, height, width)
            (seconds, ) = _median_seconds([lambda t: ours(t)], big, max(3, reps // 3), 1,
                                            clock)
            rows.append((f'LeViT-{arch.upper()}', f'1x3x{height}x{width}', 1 / seconds, None,
                         'timm: fixed 224 grid'))

    print(f'machine: {platform.machine()} {platform.processor() or ""}, '
          f'{torch.get_num_threads()} torch threads, torch {torch.__version__}, timm '
          f'{timm.__version__}, python {platform.python_version()}')
    print(f'date: {datetime.datetime.now().isoformat(timespec="minutes")}; '
          f'{args.clock} clock, median of {reps} interleaved runs after {warmup} warm-up; '
          'fused (deploy) models, '
          'features of the last stage, float32, inference_mode\n')
    print('| model | input | mmattn img/s | timm img/s | mmattn / timm | max abs diff |')
    print('|---|---|---:|---:|---:|---|')
    for model, shape, ours_ips, timm_ips, note in rows:
        timm_cell = f'{timm_ips:.1f}' if timm_ips else '-'
        ratio = f'{ours_ips / timm_ips:.2f}x' if timm_ips else '-'
        print(f'| {model} | {shape} | {ours_ips:.1f} | {timm_cell} | {ratio} | {note} |')


if __name__ == '__main__':
    main()
