"""Checkpoint converters: other codebases' weights -> mmattn model keys (plain functions).

``tools/model_converters/*2mmattn.py`` are their command lines.
"""
from .checkpoint import load_state_dict, save_state_dict, strip_prefix
from .levit import convert_levit, detect_format

__all__ = ['convert_levit', 'detect_format', 'load_state_dict', 'save_state_dict', 'strip_prefix']
