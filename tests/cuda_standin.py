"""Stand-ins for the parts of ``torch.cuda`` that mmattn's CUDA-only branches call (tests only).

The branches a GPU machine takes (preflight's device report, mmcv-kernel and SyncBN checks, its
peak-memory readout, the fp16 AMP selection) then run on a CPU machine, up to the first real
kernel launch: a tensor put on ``'cuda'`` still fails, as CPU torch cannot make one.

:class:`CudaStandin` replaces, through pytest's ``monkeypatch`` (undone after the test),
``is_available``, ``device_count``, ``get_device_properties``, ``get_device_name``,
``synchronize``, the peak-memory queries (``reset_peak_memory_stats``, ``memory_allocated``,
``max_memory_allocated``, ``max_memory_reserved``) and ``torch.version.cuda``. A test sets
:attr:`CudaStandin.peak_allocated` / :attr:`CudaStandin.peak_reserved` (bytes) to what the
"training" held; ``reset_peak_memory_stats`` sets both to 0.
"""
import types

import torch

__all__ = ['CudaStandin']


class CudaStandin:
    """``count`` GPUs named ``name`` with ``total_mb`` MiB each, torch built with CUDA
    ``version`` (defaults: one H200 of the project's lent GPU machine, CUDA 13)."""

    def __init__(self, monkeypatch, count: int = 1, name: str = 'NVIDIA H200',
                 total_mb: int = 143771, version: str = '13.0') -> None:
        self.count, self.name, self.total_mb = count, name, total_mb
        self.peak_allocated = self.peak_reserved = 0
        props = types.SimpleNamespace(name=name, total_memory=total_mb * 2**20, major=9,
                                      minor=0, multi_processor_count=132)

        def device_props(device=None):
            return props

        patches = dict(
            is_available=lambda: True, device_count=lambda: count,
            get_device_properties=device_props,
            get_device_name=lambda device=None: name,
            synchronize=lambda device=None: None,
            reset_peak_memory_stats=self._reset,
            memory_allocated=lambda device=None: 0,
            max_memory_allocated=lambda device=None: self.peak_allocated,
            max_memory_reserved=lambda device=None: self.peak_reserved)
        for attribute, value in patches.items():
            monkeypatch.setattr(torch.cuda, attribute, value)
        monkeypatch.setattr(torch.version, 'cuda', version)

    def _reset(self, device=None) -> None:
        self.peak_allocated = self.peak_reserved = 0
