"""A stand-in ``.venv`` for running ``tools/install.sh`` steps without installing anything.

Its ``bin/python`` runs the real interpreter with stand-in packages first on the path, and turns
``python -m pip ...`` into ``pip.py`` of the stand-in folder, which records the call and changes a
JSON state file instead of installing (the tests that use it write those modules).
"""
import os
import os.path as osp
import stat
import sys

__all__ = ['make_venv', 'write']

_PYTHON = '''#!/usr/bin/env bash
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then shift 2; exec {real} {standin}/pip.py "$@"; fi
PYTHONPATH={standin} exec {real} "$@"
'''


def write(path, text: str, executable: bool = False) -> None:
    """Write ``text`` to ``path`` (folders made), with the user's run bit if ``executable``."""
    path = str(path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    if executable:
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def make_venv(venv, standin) -> None:
    """``venv/bin/python``: the real interpreter over the packages of ``standin``."""
    write(osp.join(str(venv), 'bin', 'python'),
          _PYTHON.format(real=sys.executable, standin=standin), executable=True)
