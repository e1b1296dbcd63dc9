"""Operators in plain PyTorch (no OpenMMLab import): one family per file."""
