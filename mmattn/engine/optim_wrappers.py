"""bf16 autocast training on CPU.

mmengine's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU/MUSA device, so ``--amp`` cannot use it on
a CPU machine. bf16 keeps fp32's exponent range, hence needs no loss scaling: entering
``torch.autocast('cpu', torch.bfloat16)`` around the forward pass is the whole wrapper.
"""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under CPU bf16 autocast."""

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield
