"""Which test files may kill the mutants of a source file (static, from imports).

For ``pkg/sub/mod.py`` the *users* are the module itself and, transitively, every module of the
package that imports it (package ``__init__`` files do not count as users: they import
everything). A test file is chosen when it

* is named ``test_<user>.py`` (anywhere under the test root);
* imports a user (``import pkg.sub.mod``, ``from pkg.sub.mod import x``, ``from pkg.sub import
  mod``), a name a parent package re-exports from it (``from pkg.sub import Thing``), or that
  parent package itself (``from pkg import sub``);
* holds a string equal to a class defined in a user (registry builds: ``type='EAHead'``).

The runner narrows each mutant further to the tests that execute its lines.
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Optional, Set


def module_name(path: str) -> str:
    """``pkg/sub/mod.py`` -> ``pkg.sub.mod``; ``pkg/sub/__init__.py`` -> ``pkg.sub``."""
    parts = osp.splitext(osp.normpath(path))[0].split(os.sep)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _parse(path: str) -> ast.Module:
    with open(path) as f:
        return ast.parse(f.read())


def _resolve(package: str, node: ast.ImportFrom) -> str:
    """Absolute module of ``from ... import``; ``package`` is the importing code's package."""
    if not node.level:
        return node.module or ''
    base = package.split('.')[:len(package.split('.')) - node.level + 1]
    return '.'.join(base + ([node.module] if node.module else []))


def _imported(tree: ast.Module, package: str) -> Set[str]:
    """Every ``module`` and ``module.name`` a file imports (package: its own package)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(package, node)
            found.update(f'{source}.{alias.name}' for alias in node.names)
    return found


def _reaches(imported: Set[str], modules: Set[str], exact: Set[str]) -> bool:
    """Whether an import string names one of ``modules`` (or something inside) or ``exact``."""
    return any(s in exact or any(s == m or s.startswith(m + '.') for m in modules)
               for s in imported)


class Selector:
    """Parses a repository's package and tests once; ``tests_for(path)`` picks test files."""

    def __init__(self, repo: str, package: str = 'mmattn', test_root: str = 'tests',
                 exclude: tuple = ('tests/dev', )) -> None:
        self.repo = repo
        self.modules: Dict[str, ast.Module] = {}  # dotted name -> tree (packages included)
        for path in self._files(package):
            self.modules[module_name(path)] = _parse(osp.join(repo, path))
        self.tests = {path: _parse(osp.join(repo, path)) for path in self._files(test_root)
                      if osp.basename(path).startswith('test_')
                      and not any(path == e or path.startswith(e + '/') for e in exclude)}

    def _files(self, folder: str) -> List[str]:
        found = []
        for root, _, files in os.walk(osp.join(self.repo, folder)):
            found += [osp.relpath(osp.join(root, f), self.repo) for f in files if f.endswith('.py')]
        return sorted(found)

    def _package_of(self, name: str) -> str:
        is_package = self.modules.get(name) is not None and any(
            m.startswith(name + '.') for m in self.modules)
        return name if is_package else name.rpartition('.')[0]

    def _aliases(self, module: str) -> Set[str]:
        """Exact import strings that reach ``module`` through parent packages: ``pkg.Name`` for
        a name ``pkg`` re-exports from it, and ``pkg`` itself (``from parent import pkg``)."""
        aliases, provided = set(), None  # None: every name of the module
        origin, parts = module, module.split('.')
        for depth in range(len(parts) - 1, 0, -1):
            package = '.'.join(parts[:depth])
            tree = self.modules.get(package)
            if tree is None:
                break
            names = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and _resolve(package, node) == origin:
                    names.update(a.asname or a.name for a in node.names
                                 if provided is None or a.name in provided)
            if not names:
                break
            aliases.update(f'{package}.{n}' for n in names)
            aliases.add(package)
            origin, provided = package, names
        return aliases

    def users(self, module: str) -> Set[str]:
        """``module`` and the non-package modules that import it, transitively."""
        found, todo = {module}, [module]
        while todo:
            module = todo.pop()
            aliases = self._aliases(module)
            for name, tree in self.modules.items():
                if name in found or self._package_of(name) == name:
                    continue
                if _reaches(_imported(tree, self._package_of(name)), {module}, aliases):
                    found.add(name)
                    todo.append(name)
        return found

    def tests_for(self, path: str, users: Optional[Set[str]] = None) -> List[str]:
        """Repo-relative test files for the repo-relative source ``path``, sorted."""
        users = users or self.users(module_name(path))
        aliases = set().union(*(self._aliases(u) for u in users))
        stems = {f'test_{u.rpartition(".")[2]}.py' for u in users}
        classes = {node.name for u in users for node in self.modules[u].body
                   if isinstance(node, ast.ClassDef)}
        chosen = []
        for path, tree in self.tests.items():
            package = module_name(osp.join(osp.dirname(path), '__init__.py'))
            strings = {n.value for n in ast.walk(tree)
                       if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            if (osp.basename(path) in stems or strings & classes
                    or _reaches(_imported(tree, package), users, aliases)):
                chosen.append(path)
        return sorted(chosen)
