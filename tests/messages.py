"""Error-message checks that hold a contract, not a wording."""
import re


def names(*parts) -> str:
    """A ``pytest.raises(..., match=names(...))`` pattern: the message names every part.

    Parts are argument names, the bad values (``str()`` of each) and what a user needs to find
    (a key, a file, an option), in any order and whatever words surround them. A part that
    starts or ends with a letter or digit must stand alone there (``4`` does not match ``64``).
    """
    lookaheads = []
    for part in map(str, parts):
        pattern = re.escape(part)
        if re.match(r'\w', part):
            pattern = r'(?<![\w.])' + pattern
        if re.search(r'\w$', part):
            pattern += r'(?![\w])'
        lookaheads.append(f'(?=.*{pattern})')
    return '(?s)' + ''.join(lookaheads)
