"""The run's report: ``report.json`` (every mutant) and ``report.md`` (numbers and survivors)."""
import json
import os.path as osp
from collections import Counter
from typing import Dict

KILLED, TIMEOUT, SURVIVED, NOT_COVERED, ERROR = (
    'killed', 'timeout', 'survived', 'not covered', 'error')
_COLUMNS = (KILLED, TIMEOUT, SURVIVED, NOT_COVERED, ERROR)
_NOT_MUTATED = (
    'docstrings, comments, string constants and f-strings, the messages of raise / assert / '
    'warnings.warn, logging calls (print, print_log, logger.*, logging.*), __repr__ / __str__ / '
    'extra_repr, type annotations, imports, __all__, `if __name__ == "__main__"` / '
    '`if TYPE_CHECKING` blocks and lines marked `# pragma: no mutate`')


def summarise(mutants: list) -> Dict[str, Dict[str, int]]:
    """``{path: {status: count, 'mutants': n}}`` plus a ``'total'`` row."""
    rows = {}
    for m in mutants:
        rows.setdefault(m['path'], Counter())[m['status']] += 1
    rows['total'] = sum(rows.values(), Counter())
    return {path: dict({c: row.get(c, 0) for c in _COLUMNS}, mutants=sum(row.values()))
            for path, row in rows.items()}


def score(row: Dict[str, int]) -> float:
    """Killed (timeouts included) over the mutants that ran to a verdict or were not covered."""
    judged = row['mutants'] - row[ERROR]
    return 100.0 * (row[KILLED] + row[TIMEOUT]) / judged if judged else 100.0


def write_report(report: dict, out: str) -> None:
    report['summary'] = summarise(report['mutants'])
    with open(osp.join(out, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(markdown(report))


def markdown(report: dict) -> str:
    summary = report['summary']
    options = report['command']
    chosen = ', '.join(f'{k}={options[k]}' for k in ('sample', 'max_mutants', 'seed', 'confirm')
                       if options.get(k) is not None)
    lines = ['# Mutation run', '',
             f'`{" ".join(options["targets"])}` at commit {report.get("commit")} ({chosen}): '
             f'{summary["total"]["mutants"]} mutants, {report["wall_seconds"]:.0f} s wall time '
             f'with {report["workers"]} workers, tests `-m "{options["marker"]}"`.',
             '', '| file | mutants | killed | timed out | survived | not covered | errors | '
             'score |', '|---|---:|---:|---:|---:|---:|---:|---:|']
    for path, row in summary.items():
        name = f'**{path}**' if path == 'total' else f'`{path}`'
        lines.append(f'| {name} | {row["mutants"]} | ' + ' | '.join(
            str(row[c]) for c in _COLUMNS) + f' | {score(row):.1f}% |')
    lines += ['', 'Score: killed and timed out over mutants without errors. A timeout counts as '
              'killed (the tests did not pass in time). *Not covered*: no selected test executes '
              'the line, so no test ran. Not mutated (not behaviour): ' + _NOT_MUTATED + '.', '']
    survivors = [m for m in report['mutants'] if m['status'] in (SURVIVED, NOT_COVERED)]
    lines.append(f'## Survivors ({len(survivors)})')
    for path in sorted({m['path'] for m in survivors}):
        lines += ['', f'### {path}', '', '```diff']
        for m in (m for m in survivors if m['path'] == path):
            lines.append(f'@@ L{m["line"]} {m["operator"]}, {m["status"]}, '
                         f'{m["tests_run"]} tests @@')
            lines += ['-' + x for x in m['before'].splitlines()]
            lines += ['+' + x for x in m['after'].splitlines()]
        lines.append('```')
    errors = [m for m in report['mutants'] if m['status'] == ERROR]
    if errors:
        lines += ['', f'## Errors ({len(errors)})', '']
        lines += [f'- `{m["path"]}:{m["line"]}` {m["operator"]}: exit code {m.get("rc")}'
                  for m in errors]
    return '\n'.join(lines) + '\n'
