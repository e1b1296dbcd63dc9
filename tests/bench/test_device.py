"""bench/common.py on a device (``--device``): median timer, CUDA synchronisation, peak memory
from the CUDA allocator, and the table of precisions. CUDA is stood in (tests/cuda_standin.py)."""
import pytest
import torch
from torch import nn

from bench import common
from cuda_standin import CudaStandin

CPU, CUDA = torch.device('cpu'), torch.device('cuda')


@pytest.fixture
def fake_clock():
    """A clock that moves only when told: ``clock.now`` seconds."""
    clock = type('Clock', (), {'now': 0.0})()
    common.CLOCKS['fake'] = lambda: clock.now
    yield clock
    del common.CLOCKS['fake']


def test_device_timer_reports_the_median_run(fake_clock):
    durations = iter([0.5, 0.1, 0.3])

    def run():
        fake_clock.now += next(durations)

    times = common.device_ms({'a': run}, CPU, repeats=3, warmup=0, clock='fake')
    assert times['a'] == pytest.approx(300.0)


def test_device_timer_counts_cuda_kernels_that_finish_after_the_launch(monkeypatch, fake_clock):
    CudaStandin(monkeypatch)
    pending = []

    def launch():  # returns at once; the "kernel" takes 0.2 s on the device
        pending.append(0.2)

    def synchronize(device=None):
        fake_clock.now += sum(pending)
        pending.clear()

    monkeypatch.setattr(torch.cuda, 'synchronize', synchronize)
    times = common.device_ms({'kernel': launch}, CUDA, repeats=3, warmup=1, clock='fake')
    assert times['kernel'] == pytest.approx(200.0)


def test_device_peak_memory_is_the_cuda_peak_above_what_was_held_before(monkeypatch):
    standin = CudaStandin(monkeypatch)
    standin.peak_allocated = 10 * 2**30  # an earlier call's peak: must not count
    monkeypatch.setattr(torch.cuda, 'memory_allocated', lambda device=None: 100 * 2**20)

    def call():
        standin.peak_allocated = max(standin.peak_allocated, 140 * 2**20)

    assert common.device_peak_mb(call, CUDA) == pytest.approx(40.0)


def test_device_table_has_a_row_per_precision_and_names_a_side_that_fails():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 3, padding=1)

    def broken(x):
        raise RuntimeError('not implemented for this dtype')

    table = common.device_layer_table(
        'conv', {'ours': conv, 'peer': broken},
        {'1x4x8x8': lambda: torch.randn(1, 4, 8, 8)}, CPU, repeats=1, backward=True)
    rows = [line for line in table.splitlines() if line.startswith('| 1x4x8x8')]
    assert [row.split(' | ')[1] for row in rows] == ['float32', 'bf16', 'fp16']
    assert all('fails: RuntimeError' in row for row in rows)
    ours_ms = [float(row.split(' | ')[2]) for row in rows]
    assert all(ms > 0 for ms in ours_ms)
