"""Stand-in for ``torchvision`` so that timm and mmpretrain import on CPU machines (tests only).

timm imports a few torchvision names at import time (``FrozenBatchNorm2d`` for isinstance
checks, transforms and datasets in ``timm.data``), none of which the LeViT oracle runs. The
registry's torchvision is a CUDA build that fails to import on CPU torch, and mmattn must not
depend on torchvision at all, so the tests install placeholders instead:

- :func:`install` keeps a working real torchvision; otherwise it drops whatever a failed import
  left in ``sys.modules`` and serves every ``torchvision.*`` module from placeholders. Any name
  read from them is a placeholder class whose attributes are placeholders too; calling one
  raises, so a test that really needs torchvision fails loudly instead of passing by accident.
- :func:`uninstall` removes the placeholders again (modules that imported them keep theirs).
- :func:`installed` is the two as a context manager: the tests that need the stand-in enter it
  (a module-scoped fixture), and it is gone for every other test.

It lives in ``tests/`` on purpose: the package never ships a fake torchvision.
"""
import contextlib
import importlib.abc
import importlib.machinery
import sys
import types

__all__ = ['install', 'installed', 'uninstall']

_ROOT = 'torchvision'


class _PlaceholderMeta(type):

    def __getattr__(cls, name):
        if name.startswith('__'):
            raise AttributeError(name)
        value = _PlaceholderMeta(name, (), {'__module__': cls.__module__})
        setattr(cls, name, value)
        return value

    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f'{cls.__module__}.{cls.__name__} is a test placeholder: torchvision '
                           'is not available here')


class _PlaceholderModule(types.ModuleType):

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        value = _PlaceholderMeta(name, (), {'__module__': self.__name__})
        setattr(self, name, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _ROOT or fullname.startswith(_ROOT + '.'):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _PlaceholderModule(spec.name)
        module.__path__ = []
        module.__version__ = '0.0.0+test-placeholder'
        return module

    def exec_module(self, module):
        pass


_FINDER = _Finder()


def _purge() -> None:
    for name in [n for n in sys.modules if n == _ROOT or n.startswith(_ROOT + '.')]:
        del sys.modules[name]


def install() -> bool:
    """Make ``import torchvision`` work; True when this call put the placeholders in place."""
    if _FINDER in sys.meta_path:
        return False  # an outer install() owns them and removes them
    try:
        import torchvision  # noqa: F401
        return False
    except Exception:  # CUDA build on CPU torch: ImportError, OSError or RuntimeError
        _purge()
    sys.meta_path.insert(0, _FINDER)
    return True


def uninstall() -> None:
    """Remove the placeholders from the import system and ``sys.modules``."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
        _purge()


@contextlib.contextmanager
def installed():
    """Placeholders for the block's duration (nothing changes where torchvision imports)."""
    placed = install()
    try:
        yield placed
    finally:
        if placed:
            uninstall()
