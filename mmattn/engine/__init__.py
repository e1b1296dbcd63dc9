"""Runner extensions: deploy and finite-value hooks, CPU bf16 mixed precision."""
from .hooks import FiniteCheckHook, RNGStateHook, SwitchToDeployHook
from .optim_wrappers import BF16OptimWrapper

__all__ = ['BF16OptimWrapper', 'FiniteCheckHook', 'RNGStateHook', 'SwitchToDeployHook']
