"""Run every benchmark of bench/ in one go and collect their tables in bench/RESULTS.md.

    .venv/bin/python bench/run_all.py [--quick] [--threads N] [--only NAME ...] [--archive]
    .venv/bin/python bench/run_all.py --device cuda [--quick] [--out FILE]

Each bench script measures ours against its peers side by side in one process and prints
markdown (``###`` per table, its machine facts first); this runner writes one ``##`` section per
script with the command and its wall time, the README's demo (``bench/demo.py``), a table of the
headline ratios beside those of archived runs on other machines (``bench/across_machines.py``),
then draws time / memory against resolution (``bench/plots.py``, into bench/plots/).
``--archive`` first copies the current RESULTS.md to ``bench/archive/`` (do it before running on
another machine, to keep that machine's numbers in the comparison). Numbers from a shared or
loaded machine vary: compare the ratios inside one table, not absolute times across runs. Start
when the load average is well below the number of cores: with one torch thread per core, a
single other job makes the threads wait on each other and times grow several-fold, unevenly
between the sides (``--threads 1`` degrades far more gracefully).

``--device cpu|cuda`` passes ``--device`` to the layer benchmarks (not the demo, a CPU training
run): float32 / bf16 / fp16 rows, the median of repeats, CUDA-synchronised timing and
``torch.cuda.max_memory_allocated`` (``bench/common.py``). It writes bench/RESULTS_<device>.md
(RESULTS.md, the plots and the comparison across machines stay those of the CPU run).
"""
import argparse
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(HERE))  # run as a file: the repo root, for bench and mmattn

from bench.across_machines import (ARCHIVE, archived_runs, machine_of,  # noqa: E402
                                   ratio_table, run_mode)
from bench.common import machine_facts  # noqa: E402
from bench.plots import make_plots  # noqa: E402

BENCHES = ('lambda_layer', 'external_attention', 'xvolution', 'levit', 'imagenet', 'demo')
LAYER_BENCHES = BENCHES[:4]  # what --device runs


def archive(results: str) -> str:
    """Copy ``results`` to bench/archive/DATE-CPU-CORES_MODE.md; returns the new path."""
    with open(results) as f:
        text = f.read()
    slug = re.sub(r'[^a-z0-9]+', '-', machine_of(text).lower()).strip('-')
    path = osp.join(ARCHIVE, f'{slug}_{run_mode(text)}.md')
    shutil.copyfile(results, path)
    return path


def run_bench(name: str, flags: list) -> str:
    """The ``##`` section of one bench script: command, wall time, its output (or its error)."""
    cmd = [sys.executable, osp.join(HERE, f'{name}.py')] + flags
    print(f'[bench] {name} ...', flush=True)
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    took = time.time() - start
    print(f'[bench] {name}: {took:.0f} s, exit code {proc.returncode}', flush=True)
    body = proc.stdout.strip() if proc.returncode == 0 else (
        f'FAILED (exit code {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```')
    command = ' '.join(['python', f'bench/{name}.py'] + flags)
    return f'## {name} ({took:.0f} s)\n\n`{command}`\n\n{body}\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='pass --quick to every bench')
    parser.add_argument('--threads', type=int, default=None, help='pass --threads to every bench')
    parser.add_argument('--out', default=None,
                        help='default: bench/RESULTS.md, with --device bench/RESULTS_<device>.md')
    parser.add_argument('--only', nargs='+', choices=BENCHES, default=None,
                        help='default: every bench (with --device: the layer benchmarks)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                        help='the layer benchmarks on this device (bench/common.py)')
    parser.add_argument('--archive', action='store_true',
                        help='copy the current --out file to bench/archive/ first')
    args = parser.parse_args()
    if args.device and args.only and 'demo' in args.only:
        parser.error('--device: the demo is a CPU training run; leave demo out of --only')
    args.only = args.only or list(LAYER_BENCHES if args.device else BENCHES)
    args.out = args.out or osp.join(
        HERE, f'RESULTS_{args.device}.md' if args.device else 'RESULTS.md')
    if args.archive:
        print(f'[bench] archived {args.out} as {archive(args.out)}')
    if args.threads:
        torch.set_num_threads(args.threads)
    flags = (['--quick'] if args.quick else []) + (
        ['--threads', str(args.threads)] if args.threads else []) + (
        ['--device', args.device] if args.device else [])
    facts = machine_facts()
    start = time.time()
    sections = [run_bench(name, flags) for name in args.only]
    command = ' '.join(['bench/run_all.py'] + flags)
    header = (f'# mmattn benchmarks\n\nGenerated by `{command}` in {time.time() - start:.0f} s. '
              'Each section names the machine and its load when that script started.\n\n'
              f'{facts}\n')
    text = '\n'.join([header] + sections)
    if not args.device:
        comparison = ratio_table(text, archived_runs(run_mode(text)))
        text += f'\n## across_machines\n\n{comparison}'
    with open(args.out, 'w') as f:
        f.write(text)
    print(f'[bench] wrote {args.out}')
    if not args.device:
        for path in make_plots(args.out, osp.join(osp.dirname(args.out), 'plots')):
            print(f'[bench] wrote {path}')
    sys.exit(1 if any('FAILED (exit code' in section for section in sections) else 0)


if __name__ == '__main__':
    main()
