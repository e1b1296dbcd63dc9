"""Side-by-side benchmarks of mmattn's operators against their peers (not installed with mmattn).

A package so that the runner, the tests and every script share ``bench.common`` (timer, peak
memory, tables, machine facts) and ``bench.mask_rcnn`` (the detection train step) by import,
from the repository root. The scripts still run as files: ``.venv/bin/python bench/<name>.py``.
"""
