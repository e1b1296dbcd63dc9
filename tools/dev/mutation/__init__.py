"""Mutation testing for mmattn (a developer tool, not part of the package).

``tools/dev/mutate.py`` is the command line; :func:`run` the engine. See docs/testing.md.
"""
from .operators import Mutant, apply_mutant, find_mutants
from .runner import Options, collect, run, source_files
from .selection import Selector

__all__ = [
    'Mutant', 'Options', 'Selector', 'apply_mutant', 'collect', 'find_mutants', 'run',
    'source_files'
]
