"""Registered mmseg test-time wrappers."""
from .logit_sum_tta import LogitSumTTAModel

__all__ = ['LogitSumTTAModel']
