"""Compatibility fixes for PyTorch >= 2.6 (placeholder, filled by the foundation work)."""
