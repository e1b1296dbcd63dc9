"""Registered OpenMMLab adapters."""
