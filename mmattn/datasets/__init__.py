"""Synthetic datasets in real formats."""
