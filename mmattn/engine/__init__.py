"""Runner extensions: the deploy hook and CPU bf16 mixed precision."""
from .hooks import SwitchToDeployHook
from .optim_wrappers import BF16OptimWrapper

__all__ = ['BF16OptimWrapper', 'SwitchToDeployHook']
