"""Every import of our own code names something that exists, in branches no test runs too.

A function-level import runs only when its branch runs: ``from ..utils.mmcv_cuda import ...``
inside preflight's CUDA branch pointed at a module that does not exist, and crashed every CUDA
machine while the CPU suite stayed green. This test reads every module of ``mmattn/``,
``tools/`` and ``bench/`` (no imports run, so no branch is needed) and resolves each import of
``mmattn`` or ``bench``, and each relative import, to a file of the repository: the module must
exist, and each name taken from it must be a submodule or be bound at the module's top level (a
def, class, assignment or import there, also inside ``if`` / ``try``; a module with a
``__getattr__`` or a star import accepts any name).
"""
import ast
import os
import os.path as osp
from typing import Iterator, List, Optional, Set

import pytest

from conftest import REPO

FIRST_PARTY = ('mmattn', 'bench')
SCANNED = ('mmattn', 'tools', 'bench')


def _module_file(base: str, parts: List[str]) -> Optional[str]:
    """The .py file (module, or a package's __init__.py) of ``parts`` under folder ``base``."""
    path = osp.join(base, *parts)
    for candidate in (path + '.py', osp.join(path, '__init__.py')):
        if parts and osp.isfile(candidate):
            return candidate
    if not parts and osp.isfile(osp.join(base, '__init__.py')):
        return osp.join(base, '__init__.py')
    return None


def _bound_names(tree: ast.Module) -> Optional[Set[str]]:
    """Names bound at the top level of a module; None when any name may resolve."""
    names: Set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == '__getattr__':
                return None
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == '*':
                    return None
                names.add(alias.asname or alias.name.split('.')[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ('body', 'orelse', 'finalbody', 'handlers'):
                todo.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)
    return names


def broken_imports(path: str, source: Optional[str] = None) -> Iterator[str]:
    """'file:line: what' for each import in ``path`` (or in ``source``, read as if it were
    that file) that names a missing module or name."""
    repo = REPO
    if source is None:
        with open(path) as f:
            source = f.read()
    tree = ast.parse(source, path)
    where = osp.relpath(path, repo)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, repo, alias.name.split('.'), []) for alias in node.names
                       if alias.name.split('.')[0] in FIRST_PARTY]
        elif isinstance(node, ast.ImportFrom):
            parts = node.module.split('.') if node.module else []
            if node.level:
                base = osp.dirname(path)
                for _ in range(node.level - 1):
                    base = osp.dirname(base)
            elif parts[0] in FIRST_PARTY:
                base = repo
            else:
                continue
            shown = '.' * node.level + (node.module or '')
            targets = [(shown, base, parts, [alias.name for alias in node.names])]
        else:
            continue
        for shown, base, parts, names in targets:
            module = _module_file(base, parts)
            if module is None:
                yield f'{where}:{node.lineno}: module {shown} does not exist'
                continue
            bound = None
            for name in names:
                if name == '*' or (osp.basename(module) == '__init__.py' and _module_file(
                        osp.dirname(module), [name])):
                    continue
                if bound is None:
                    with open(module) as f:
                        bound = _bound_names(ast.parse(f.read(), module)) or {name}
                if name not in bound:
                    yield (f'{where}:{node.lineno}: {shown} has no {name} '
                           f'({osp.relpath(module, repo)})')


def _python_files() -> List[str]:
    files = []
    for top in SCANNED:
        for folder, _, names in os.walk(osp.join(REPO, top)):
            files += [osp.join(folder, n) for n in sorted(names) if n.endswith('.py')]
    return files


def test_every_import_of_our_code_names_an_existing_module_and_name():
    files = _python_files()
    assert any(f.endswith(osp.join('preflight', 'devices.py')) for f in files)
    problems = [line for path in files for line in broken_imports(path)]
    assert problems == []


@pytest.mark.parametrize('source, found', [
    ('def f():\n    from ..utils.nowhere import x\n', 'module ..utils.nowhere'),
    ('def f():\n    from .devices import no_such_function\n', 'has no no_such_function'),
    ('import mmattn.no_such_module\n', 'module mmattn.no_such_module'),
    ('from mmattn.layers import NoSuchLayer\n', 'has no NoSuchLayer'),
    ('def f():\n    from ...utils.mmcv_cuda import collect_facts\n', None),
    ('from mmattn.apis import preflight\nfrom . import devices\n', None),
])
def test_the_check_sees_an_import_inside_a_function(source, found):
    # read as a new module beside preflight's devices.py
    path = osp.join(REPO, 'mmattn', 'apis', 'preflight', 'new_module.py')
    problems = list(broken_imports(path, source))
    if found is None:
        assert problems == []
    else:
        assert len(problems) == 1 and found in problems[0]
