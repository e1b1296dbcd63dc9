"""tools/dev/mutation: mutants are applied and restored, and judged killed / survived correctly."""
import json
import subprocess
import sys
import textwrap

import pytest

from tools.dev.mutation import Options, Selector, apply_mutant, find_mutants, run
from tools.dev.mutation.report import summarise, score
from tools.dev.mutation.runner import HERE

SOURCE = textwrap.dedent('''\
    """Docstring with 1 + 2 and x < 3."""
    import logging

    logger = logging.getLogger(__name__)


    def add(a, b):
        return a + b


    def clamp(x: int = 0, limit=10) -> int:
        """Numbers in docstrings (0, 1, 2) are not behaviour."""
        if x > limit and not x == 0:
            logger.info('clamping %d to %d', x + 1, limit - 1)
            return min(x, limit)
        return x


    def check(n):
        if n < 0:
            raise ValueError(f'n must be >= 0, got {n + 1}')
        label = f'n={n * 2}'
        return sorted([n, 1], reverse=True)


    class Thing:
        def extra_repr(self):
            return f'n={1 + 1}'
''')


def _afters(mutants):
    return {m.after.strip() for m in mutants}


def test_operators_edit_one_token_and_leave_every_other_line_byte_identical():
    mutants = find_mutants(SOURCE, 'calc.py')
    afters = _afters(mutants)
    for expected in ('return a - b', 'if x >= limit and not x == 0:',
                     'if x > limit or not x == 0:', 'if x > limit and x == 0:',
                     'if not (x > limit and not x == 0):', 'return max(x, limit)',
                     'return sorted([n, 1])', 'return sorted([n, 0], reverse=True)',
                     'def clamp(x: int = 1, limit=10) -> int:', 'return None', 'pass'):
        assert expected in afters, expected
    lines = SOURCE.splitlines()
    for mutant in mutants:
        mutated = apply_mutant(SOURCE, mutant).splitlines()
        span = mutant.end_line - mutant.line + 1
        changed = len(mutant.after.splitlines())
        assert mutated[:mutant.line - 1] == lines[:mutant.line - 1]
        assert mutated[mutant.line - 1 + changed:] == lines[mutant.line - 1 + span:]
        compile('\n'.join(mutated), 'calc.py', 'exec')  # every mutant is valid Python
    assert len({apply_mutant(SOURCE, m) for m in mutants}) == len(mutants)  # no duplicates


def test_docstrings_f_strings_messages_logging_annotations_and_repr_are_not_mutated():
    mutants = find_mutants(SOURCE, 'calc.py')
    lines = SOURCE.splitlines()
    line_of = {text: i + 1 for i, line in enumerate(lines) for text in [line.strip()]}
    untouched = ['"""Docstring with 1 + 2 and x < 3."""', 'import logging',
                 '"""Numbers in docstrings (0, 1, 2) are not behaviour."""',
                 "logger.info('clamping %d to %d', x + 1, limit - 1)",
                 "return f'n={1 + 1}'", "label = f'n={n * 2}'",
                 "raise ValueError(f'n must be >= 0, got {n + 1}')"]
    by_line = {}
    for m in mutants:
        by_line.setdefault(m.line, []).append(m)
    for text in untouched[:-1]:
        assert line_of[text] not in by_line, text
    # the raise may be removed (whether it raises is behaviour), its message is never mutated
    assert [m.replacement for m in by_line[line_of[untouched[-1]]]] == ['pass']
    # the annotation of clamp's `x` is not touched, its default is
    assert all('x: int' in m.after for m in by_line[line_of[lines[10].strip()]])


def test_selection_follows_imports_through_packages_and_importing_modules(tmp_path):
    (tmp_path / 'pkg').mkdir()
    (tmp_path / 'tests').mkdir()
    files = {
        'pkg/__init__.py': 'from .calc import add\nfrom .user import twice\n',
        'pkg/calc.py': 'def add(a, b):\n    return a + b\n',
        'pkg/user.py': 'from .calc import add\n\n\ndef twice(a):\n    return add(a, a)\n',
        'pkg/other.py': 'def other():\n    return 1\n',
        'tests/test_via_package.py': 'from pkg import add\n',
        'tests/test_user.py': 'from pkg.user import twice\n',
        'tests/test_other.py': 'from pkg import other\n',
        'tests/test_calc.py': '',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    selector = Selector(str(tmp_path), package='pkg')
    assert selector.tests_for('pkg/calc.py') == [
        'tests/test_calc.py', 'tests/test_user.py', 'tests/test_via_package.py']
    assert selector.tests_for('pkg/other.py') == ['tests/test_other.py']


TINY = textwrap.dedent('''\
    def add(a, b):
        return a + b


    def clamp(x):
        if x > 10:
            return 10
        return x
''')
TINY_TESTS = textwrap.dedent('''\
    from pkg.calc import add, clamp


    def test_add():
        assert add(2, 3) == 5


    def test_clamp_runs():
        clamp(3)  # asserts nothing: the mutants of the comparison survive
''')


def _tiny_repo(root):
    (root / 'pkg').mkdir()
    (root / 'tests').mkdir()
    (root / 'pkg' / '__init__.py').write_text('')
    (root / 'pkg' / 'calc.py').write_text(TINY)
    (root / 'tests' / 'test_calc.py').write_text(TINY_TESTS)
    (root / 'pytest.ini').write_text('[pytest]\n')
    return root


def test_run_counts_killed_survived_and_not_covered_and_leaves_the_sources(tmp_path):
    repo = _tiny_repo(tmp_path)
    report = run(str(repo), Options(targets=['pkg'], workers=1, package='pkg', out='out',
                                    min_timeout=60), progress=lambda line: None)
    status = {(m['line'], m['after'].strip()): m['status'] for m in report['mutants']}
    assert status[2, 'return a - b'] == 'killed'
    assert status[2, 'return None'] == 'killed'
    assert status[6, 'if x >= 10:'] == 'survived'
    assert status[6, 'if not (x > 10):'] == 'survived'
    assert status[7, 'return 11'] == 'not covered'  # clamp(3) never reaches it
    assert status[8, 'return None'] == 'survived'  # clamp's result is never checked
    killed = next(m for m in report['mutants'] if m['after'].strip() == 'return a - b')
    assert killed['killer'] == 'tests/test_calc.py::test_add'
    assert (repo / 'pkg' / 'calc.py').read_text() == TINY
    assert report['summary']['total']['killed'] == sum(s == 'killed' for s in status.values())
    written = json.loads((repo / 'out' / 'report.json').read_text())
    assert written['summary'] == report['summary']
    assert 'if x >= 10:' in (repo / 'out' / 'report.md').read_text()


def _worker(root):
    modules = root / 'modules.json'
    modules.write_text('[]')
    return subprocess.Popen([sys.executable, f'{HERE}/forkserver.py', str(root), str(modules)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _ask(proc, job):
    proc.stdin.write(json.dumps(job) + '\n')
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def test_worker_restores_the_file_after_a_killed_and_a_timed_out_mutant(tmp_path):
    repo = _tiny_repo(tmp_path)
    original = (repo / 'pkg' / 'calc.py').read_bytes()
    args = ['-x', '-q', '-p', 'no:cacheprovider', 'tests/test_calc.py']
    proc = _worker(repo)
    try:
        killed = _ask(proc, dict(id=1, path='pkg/calc.py', log=str(tmp_path / 'log'),
                                 source=TINY.replace('a + b', 'a - b'),
                                 stages=[dict(args=args, timeout=60)]))
        assert (killed['rc'], killed['timed_out']) == (1, False)
        assert (repo / 'pkg' / 'calc.py').read_bytes() == original
        hang = TINY.replace('return a + b', 'while True:\n        pass')
        timed_out = _ask(proc, dict(id=2, path='pkg/calc.py', log=str(tmp_path / 'log'),
                                    source=hang, stages=[dict(args=args, timeout=2)]))
        assert (timed_out['rc'], timed_out['timed_out']) == (None, True)
        assert (repo / 'pkg' / 'calc.py').read_bytes() == original
        passed = _ask(proc, dict(id=3, path=None, log=str(tmp_path / 'log'),
                                 stages=[dict(args=args, timeout=60)]))
        assert passed['rc'] == 0  # the restored source passes again
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


@pytest.mark.parametrize('statuses, expected', [
    (['killed', 'timeout', 'survived', 'not covered'], 50.0),
    (['killed', 'error'], 100.0),
])
def test_score_counts_timeouts_as_killed_and_leaves_errors_out(statuses, expected):
    mutants = [dict(path='a.py', status=s) for s in statuses]
    assert score(summarise(mutants)['total']) == expected
