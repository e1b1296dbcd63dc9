"""Old module paths of mmattn 0.1, kept importable until 0.3 with a DeprecationWarning."""
import warnings


def warn_moved(old: str, new: str) -> None:
    """Warn that module ``old`` moved to ``new`` (called when the old module is imported)."""
    warnings.warn(f'{old} moved to {new} in mmattn 0.2; the old path goes in 0.3. Import from '
                  f'{new} instead.', DeprecationWarning, stacklevel=3)
