"""Old module paths of mmattn 0.1, kept importable for one release with a DeprecationWarning."""
import importlib
import warnings
from types import ModuleType


def forward_module(old: str, new: str, names: tuple) -> dict:
    """Names of module ``new`` to put into module ``old``'s globals, warning once on import."""
    warnings.warn(f'{old} moved to {new} in mmattn 0.2; the old path goes in 0.3. Import from '
                  f'{new} instead.', DeprecationWarning, stacklevel=3)
    module: ModuleType = importlib.import_module(new)
    return {name: getattr(module, name) for name in names}
