"""Checkpoint converters: other codebases' weights -> mmattn model keys (plain functions).

``tools/model_converters/*2mmattn.py`` are their command lines.
"""
from .checkpoint import load_state_dict, save_state_dict, strip_prefix
from .eanet import convert_eanet, convert_resnet_deep_stem, load_eanet_checkpoint
from .levit import convert_levit, convert_levit_classifier, detect_format

__all__ = [
    'convert_eanet', 'convert_levit', 'convert_levit_classifier', 'convert_resnet_deep_stem', 'detect_format',
    'load_eanet_checkpoint', 'load_state_dict', 'save_state_dict', 'strip_prefix'
]
