"""What every bench script shares: command line, machine facts, timer, peak memory, tables.

One way for each, so that the numbers of RESULTS.md mean the same thing in every section:

* time: :func:`interleaved_ms`, the best of N runs with the compared sides interleaved. Load from
  other processes only ever adds time, so the fastest run is the least disturbed estimate, and
  interleaving (in rotated order) makes a burst of load hit every side alike.
* peak memory: :func:`peak_memory_mb`, the most bytes held by tensors during one call, above what
  was held before, from torch.profiler's allocator events. It counts what the algorithm keeps
  alive (activations, attention maps, saved tensors), is the same on every CPU and run (the
  resident set, /proc VmHWM, also moves with malloc's arenas, page reuse and library
  scratch buffers, and needs a fresh process per model to be comparable), and works in the
  process that runs the sides interleaved.
* output: :func:`markdown_table` (one ``###`` title per table) and :func:`machine_facts`
  (one line: CPU model and vector ISA, cores, torch threads, load, GPU, versions, date).

``--device cpu|cuda`` (every script) runs the script's layer benchmarks on that device instead
of its default CPU tables: :func:`device_layer_table`, one row per input size and precision
(float32; bf16 and fp16 autocast), every side timed by :func:`device_ms` (the median of
interleaved runs after warm-up; on CUDA each run ends with ``torch.cuda.synchronize`` so that
the kernels' time counts, not their launch) and its peak memory by :func:`device_peak_mb`
(``torch.cuda.max_memory_allocated`` above what was allocated before the call; on CPU
:func:`peak_memory_mb`). A GPU is not a shared 2-core machine: the median is the typical run,
the minimum would flatter the side that happens to hit a boost clock.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import tempfile
import statistics
import time
from importlib import metadata
from typing import Callable, Dict, Iterable, Sequence

import torch

CLOCKS = dict(wall=time.perf_counter, cpu=time.process_time)
_LIBRARIES = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'timm', 'lambda-networks')


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """The options every bench script takes; add the script's own to the parser returned."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer sizes and repeats (what run_all.py --quick passes)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch\'s, one per core)')
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                        help='wall time, or CPU time of this process (steadier on a shared '
                        'machine, with --threads 1)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                        help='the layer benchmarks on this device, float32 / bf16 / fp16 rows, '
                        'median of repeats (default: the CPU tables of RESULTS.md)')
    return parser


def start(args: argparse.Namespace) -> None:
    """Apply ``--threads`` and print the machine facts, the first line of every bench's output."""
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_facts() + '\n', flush=True)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            return next(line.split(':', 1)[1].strip() for line in cpuinfo
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_facts() -> str:
    """One line: CPU, vector ISA, cores, torch threads, load average, GPU, versions, date."""
    versions = []
    for name in _LIBRARIES:
        try:
            versions.append(f'{name} {metadata.version(name)}')
        except metadata.PackageNotFoundError:
            pass
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    gpu = (f'{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})'
           if torch.cuda.is_available() else 'no GPU')
    return (f'machine: {cpu_model()} ({torch.backends.cpu.get_cpu_capability()}), '
            f'{os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {gpu}, '
            f'load average {load} at start; Python {platform.python_version()}, '
            f'{", ".join(versions)}; {datetime.datetime.now().isoformat(timespec="minutes")}')


def _interleaved_seconds(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int,
                         clock: str, sync: Callable[[], None]) -> Dict[str, list]:
    """Every timed run of each function, in seconds; ``sync()`` before and after each run."""
    now = CLOCKS[clock]
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            sync()
            begin = now()
            fns[name]()
            sync()
            times[name].append(now() - begin)
    return times


def interleaved_ms(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                   clock: str = 'wall') -> Dict[str, float]:
    """Best-of-``repeats`` milliseconds per function, the functions run interleaved.

    Round ``i`` runs them in order rotated by ``i`` (A B C, B C A, ...), so that none always
    runs first, after the others have warmed (or flushed) the caches. ``warmup`` rounds run
    untimed first (first-call allocations, oneDNN plans).
    """
    times = _interleaved_seconds(fns, repeats, warmup, clock, sync=lambda: None)
    return {name: 1000 * min(values) for name, values in times.items()}


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak of the bytes held by tensors allocated while ``fn`` runs (MiB).

    From torch.profiler's allocator events: CPU PyTorch keeps no allocator statistic, and the
    resident set is not comparable between models (see the module docstring).
    """
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as profiler:
        fn()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'trace.json')
        profiler.export_chrome_trace(path)
        with open(path) as trace:
            events = [e for e in json.load(trace)['traceEvents'] if e.get('name') == '[memory]']
    # The CPU allocator reports to the profiler only what is allocated while it profiles, so
    # 'Total Allocated' starts from 0: tensors held before the call do not count.
    return max((e['args']['Total Allocated'] for e in events), default=0) / 2**20


def markdown_table(title: str, header: Sequence[str], rows: Iterable[Sequence],
                   note: str = '') -> str:
    """``### title``, the table, and an optional note below it (markdown, ends with a newline)."""
    lines = [f'### {title}', '', '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    if note:
        lines += ['', note]
    return '\n'.join(lines) + '\n'


# precision row -> autocast dtype (None: plain float32)
PRECISIONS = {'float32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def autocast(device: torch.device, precision: str):
    """The context a ``precision`` row runs in: nothing for float32, else autocast."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def device_ms(fns: Dict[str, Callable[[], object]], device: torch.device, repeats: int,
              warmup: int = 2, clock: str = 'wall') -> Dict[str, float]:
    """Median-of-``repeats`` milliseconds per function on ``device``, interleaved as
    :func:`interleaved_ms` (rotated order, ``warmup`` untimed rounds first). On CUDA the
    device is synchronised before each run and the run ends with a synchronisation, so the
    time is that of the kernels, not of their launch."""
    times = _interleaved_seconds(fns, repeats, warmup, clock, sync=lambda: _synchronize(device))
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def device_peak_mb(fn: Callable[[], object], device: torch.device) -> float:
    """Peak MiB allocated by ``fn`` above what was allocated before it: on CUDA from
    ``torch.cuda.max_memory_allocated`` (peak statistics reset first), on CPU
    :func:`peak_memory_mb`."""
    if device.type != 'cuda':
        return peak_memory_mb(fn)
    _synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    _synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def device_layer_table(title: str, sides: Dict[str, Callable[[torch.Tensor], object]],
                       inputs: Dict[str, Callable[[], torch.Tensor]], device: torch.device,
                       repeats: int, backward: bool) -> str:
    """One row per input and precision: each side's time (:func:`device_ms`) and peak memory
    (:func:`device_peak_mb`), and each side's time over the first side's.

    ``sides`` maps a name to a call on one input tensor (the first side is ours); ``inputs``
    maps a label to a maker of the input, on ``device``. ``backward``: time forward +
    backward (a sum of the output), else forward under ``torch.inference_mode``. A side that
    fails at a precision gets its error's type in its cells; the others still run.
    """
    names = list(sides)
    rows = []
    for label, make in inputs.items():
        for precision in PRECISIONS:
            x = make()

            def run(side, x=x, precision=precision):
                if backward:
                    x.requires_grad_(True)
                    with autocast(device, precision):
                        out = side(x)
                    out.float().sum().backward()
                    x.grad = None
                else:
                    with torch.inference_mode(), autocast(device, precision):
                        side(x)

            fns, failed = {}, {}
            for name in names:
                try:
                    run(sides[name])
                    fns[name] = (lambda side=sides[name]: run(side))
                except Exception as error:  # noqa: BLE001  (reported in the table)
                    failed[name] = f'fails: {type(error).__name__}'
            times = device_ms(fns, device, repeats) if fns else {}
            memory = {name: device_peak_mb(fn, device) for name, fn in fns.items()}
            cells = []
            for name in names:
                if name in failed:
                    cells += [failed[name], '-']
                else:
                    cells += [f'{times[name]:.2f}', f'{memory[name]:.1f}']
            ours = times.get(names[0])
            ratios = [f'{times[name] / ours:.2f}x' if ours and name in times else '-'
                      for name in names[1:]]
            rows.append([label, precision] + cells + ratios)
    header = ['input', 'precision']
    for name in names:
        header += [f'{name} ms', f'{name} MB']
    header += [f'{name} / {names[0]}' for name in names[1:]]
    what = 'forward + backward' if backward else 'inference'
    return markdown_table(
        f'{title} on {device.type}, {what}, median of {repeats}', header, rows,
        note='bf16 / fp16: under torch.autocast. Ratios: time of the side over ours (above 1: '
        'ours is faster). MB: peak allocated during one call above what was held before.')
