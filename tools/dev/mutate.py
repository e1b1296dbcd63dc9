"""Mutation testing of mmattn: how many small code changes do the quick tests catch?

    .venv/bin/python tools/dev/mutate.py [PATH ...] [--sample N] [--workers 2] \
        [--out work_dirs/mutation]

PATH: source files or folders (default: mmattn/layers mmattn/models). Each mutant (an operator
swapped, a constant changed, a statement removed, ...) runs the quick tests that execute its
lines, in fork workers over private copies of the repository (the working tree is never
modified). Writes OUT/report.md and OUT/report.json; docs/testing.md explains them.
"""
import argparse
import os.path as osp
import signal
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mutation import Options, collect, run, source_files  # noqa: E402
from mutation.report import score  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('paths', nargs='*', default=list(Options.targets),
                        help='source files or folders to mutate (repo-relative)')
    parser.add_argument('--tests', nargs='+', default=None,
                        help='test paths for every file (default: chosen per file from imports)')
    parser.add_argument('-m', '--marker', default=Options.marker,
                        help='pytest -m expression (default: "%(default)s")')
    parser.add_argument('--workers', type=int, default=Options.workers)
    parser.add_argument('--sample', type=int, default=None,
                        help='run a random sample of N mutants (seeded by --seed)')
    parser.add_argument('--max-mutants', type=int, default=None, help='run the first N mutants')
    parser.add_argument('--seed', type=int, default=Options.seed)
    parser.add_argument('--min-timeout', type=float, default=Options.min_timeout,
                        help='seconds a mutant may always take (default: %(default)s)')
    parser.add_argument('--timeout-factor', type=float, default=Options.timeout_factor,
                        help='times the baseline duration of its tests (default: %(default)s)')
    parser.add_argument('--no-confirm', action='store_true',
                        help='skip the tests of the files involved that do not execute '
                        'the mutant (faster; a survivor is then less sure)')
    parser.add_argument('--list', action='store_true', help='count the mutants and exit')
    parser.add_argument('--out', default=Options.out, help='report folder (repo-relative)')
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f'--workers must be at least 1, got {args.workers}')
    if args.list:
        mutants = collect(REPO, source_files(REPO, args.paths), args.sample, args.max_mutants,
                          args.seed)
        for path in sorted({m.path for m in mutants}):
            print(f'{sum(m.path == path for m in mutants):5d}  {path}')
        print(f'{len(mutants):5d}  total')
        return 0
    options = Options(targets=args.paths, tests=args.tests, marker=args.marker,
                      workers=args.workers, sample=args.sample, max_mutants=args.max_mutants,
                      seed=args.seed, min_timeout=args.min_timeout,
                      timeout_factor=args.timeout_factor, confirm=not args.no_confirm,
                      out=args.out)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the copies on `kill`
    report = run(REPO, options)
    total = report['summary']['total']
    print(f"{total['mutants']} mutants: {total['killed']} killed, {total['timeout']} timed out, "
          f"{total['survived']} survived, {total['not covered']} not covered, "
          f"{total['error']} errors; score {score(total):.1f}%; "
          f"{report['wall_seconds']:.0f} s; report in {osp.join(args.out, 'report.md')}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
