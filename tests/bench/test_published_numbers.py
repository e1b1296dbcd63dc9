"""Every benchmark number README.md and docs/*.md quote is printed in bench/RESULTS.md.

The sections below are where the project quotes measurements (the README's benchmark table,
the demo's time and mIoU, each method's measured numbers). Every number in them (ratios, times,
shapes alike) must appear, written the same way, in the RESULTS.md of the same commit, and each
section must name the machine the numbers came from. Regenerate with
``python bench/run_all.py --quick`` and copy the new numbers, never edit one by hand.
"""
import os.path as osp
import re

import pytest
from conftest import REPO

# file -> heading of its section that quotes benchmark numbers
QUOTING = {
    'README.md': '## Benchmarks',
    'docs/lambda.md': '## Measured numbers',
    'docs/external_attention.md': '## Measured numbers',
    'docs/xvolution.md': '## Measured numbers',
    'docs/levit.md': '## Measured numbers',
}
# 9.56x, 0.32, 2x256x64x64, 6.0e-07, 2026: a number as printed, with shape and ratio suffixes
NUMBER = re.compile(r'\d+(?:\.\d+)?(?:e[-+]\d+)?(?:x\d+(?:\.\d+)?)*x?')


def _read(relative: str) -> str:
    with open(osp.join(REPO, relative)) as f:
        return f.read()


def _section(text: str, heading: str) -> str:
    """From ``heading`` to the next heading of the same or a higher level."""
    level = heading.split()[0]
    match = re.search(rf'^{re.escape(heading)}\n(.*?)(?=^#{{1,{len(level)}}} |\Z)', text,
                      re.S | re.M)
    assert match, f'no section {heading!r}'
    return match.group(1)


def _machine() -> tuple:
    """(CPU model as printed, ``N torch threads``) of the run in bench/RESULTS.md."""
    match = re.search(r'^machine: (.+?) \([^)]*\), \d+ cores, (\d+ torch threads)',
                      _read('bench/RESULTS.md'), re.M)
    assert match, 'bench/RESULTS.md has no machine line: regenerate it with bench/run_all.py'
    return match.group(1), match.group(2)


def unprinted_numbers(quoted: str, results: str) -> list:
    """The numbers of ``quoted`` that ``results`` does not print."""
    printed = set(NUMBER.findall(results))
    return [number for number in NUMBER.findall(quoted) if number not in printed]


def test_number_matching_is_exact_to_the_printed_digits():
    results = '| 2x256x64x64 | fwd+bwd time | 112 ms | 9.56x | 6.0e-07 |'
    assert unprinted_numbers('9.56x faster at 2x256x64x64 (112 ms)', results) == []
    assert unprinted_numbers('9.6x faster', results) == ['9.6x']
    assert unprinted_numbers('at 2x256x32x32', results) == ['2x256x32x32']
    assert unprinted_numbers('9.56 faster', results) == ['9.56']


@pytest.mark.parametrize('relative', sorted(QUOTING))
def test_quoted_benchmark_numbers_are_printed_in_results(relative):
    quoted = _section(_read(relative), QUOTING[relative])
    assert NUMBER.search(quoted), f'{relative}: {QUOTING[relative]} quotes no number'
    missing = unprinted_numbers(quoted, _read('bench/RESULTS.md'))
    assert not missing, (
        f'{relative}, section {QUOTING[relative]!r}: {missing} not printed in '
        'bench/RESULTS.md; quote the numbers of the committed run (bench/run_all.py --quick)')


@pytest.mark.parametrize('relative', sorted(QUOTING))
def test_quoting_section_names_the_machine(relative):
    quoted = ' '.join(_section(_read(relative), QUOTING[relative]).split())
    cpu, threads = _machine()
    assert cpu in quoted and threads in quoted, (
        f'{relative}, section {QUOTING[relative]!r}: name the machine of bench/RESULTS.md '
        f'({cpu!r}, {threads!r})')
