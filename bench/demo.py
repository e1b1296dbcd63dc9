"""The README's demo, timed: EANet trained from scratch on the synthetic ADE20K-style set.

Usage: ``.venv/bin/python bench/demo.py [--quick] [--threads N] [--work-dir DIR]``

Runs ``mmattn.apis.run_demo`` (what ``tools/demo.py`` runs: 600 iterations; ``--quick`` changes
nothing, the README quotes this run) in a temporary folder and prints its wall time, the
held-out mIoU and the mIoU of the best constant prediction. The demo's own progress and
mmengine's log go to stderr, so that stdout is the table alone.
"""
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: the repo root

from bench.common import bench_parser, markdown_table, start  # noqa: E402

ITERS = 600  # run_demo's default, the README's demo


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument('--work-dir', default=None,
                        help='keep the demo\'s data, log and PNGs here (default: a temporary '
                        'folder, removed)')
    args = parser.parse_args()
    if args.device:
        parser.error(f'--device {args.device}: the demo is a CPU training run, not a layer '
                     'benchmark; run it without --device')
    if args.clock != 'wall':
        parser.error(f'--clock {args.clock}: the demo reports its wall time only; drop --clock')
    start(args)
    from mmattn.apis.demo import run_demo
    with contextlib.ExitStack() as stack:
        work_dir = args.work_dir or stack.enter_context(tempfile.TemporaryDirectory())
        with contextlib.redirect_stdout(sys.stderr):
            result = run_demo(work_dir=work_dir, iters=ITERS)
    print(markdown_table(
        f'Demo (tools/demo.py): EANet, half-width ResNet-18-D8 + EAHead, from scratch, {ITERS} '
        'iterations on the synthetic ADE20K-style set',
        ('demo', 'wall time (s)', 'held-out mIoU', 'best constant prediction mIoU'),
        [('train + test + draw', f"{result['seconds']:.0f}", f"{result['miou']:.1f}",
          f"{result['chance_miou']:.1f}")]))


if __name__ == '__main__':
    main()
