"""The mutation run: collect mutants, trace a baseline, run each mutant's tests in fork workers.

1. Mutants of every target file (:mod:`.operators`); optionally a seeded sample of them.
2. Baseline: the union of the files' test selections (:mod:`.selection`, marker applied) runs
   once, unmutated, under a line tracer (``linetrace.py``); it must pass. It tells which tests
   execute each line, how long each test takes, and which modules to import once per worker.
3. Each mutant runs only the tests that execute its lines (a default argument: the tests that
   call its function; module-level code: the file's whole selection), fastest first, with
   ``-x``, in two stages (see :func:`_job`); a survivor has passed every test of the test
   files involved. A mutant whose lines no test executes is reported *not covered*, unrun.
4. Workers (``forkserver.py``) own a copy of the repository each, so the working tree is never
   modified; a mutant is written into the copy and restored after its run.

A timeout (``min_timeout + timeout_factor x`` the baseline time of the tests) counts as killed
and is reported apart.
"""
import json
import os
import os.path as osp
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from .operators import Mutant, apply_mutant, find_mutants, iter_lines
from .report import ERROR, KILLED, NOT_COVERED, SURVIVED, TIMEOUT, write_report
from .selection import Selector

HERE = osp.dirname(osp.abspath(__file__))
PYTEST_ARGS = ['-x', '-q', '-p', 'no:cacheprovider', '-o', 'addopts=', '-rfE', '--no-header']
_IGNORED = shutil.ignore_patterns('.git', '.venv', '__pycache__', '*.pyc', 'work_dirs', 'data',
                                  '.pytest_cache', 'build', 'dist', '*.egg-info')


@dataclass
class Options:
    """Everything a run depends on (the command line fills it)."""
    targets: Sequence[str] = ('mmattn/layers', 'mmattn/models')
    tests: Optional[Sequence[str]] = None  # test paths for every file (default: per file)
    marker: str = 'not slow'
    workers: int = 2
    sample: Optional[int] = None  # run a seeded random sample of this many mutants
    max_mutants: Optional[int] = None  # run the first this many (after sampling)
    seed: int = 0
    min_timeout: float = 30.0
    timeout_factor: float = 3.0
    confirm: bool = True
    out: str = 'work_dirs/mutation'
    package: str = 'mmattn'
    python: str = sys.executable


def source_files(repo: str, targets: Sequence[str]) -> List[str]:
    """Repo-relative ``.py`` files of the targets (files or folders)."""
    files = []
    for target in targets:
        full = osp.join(repo, target)
        if osp.isdir(full):
            for root, _, names in sorted(os.walk(full)):
                files += [osp.relpath(osp.join(root, n), repo) for n in sorted(names)
                          if n.endswith('.py')]
        elif osp.isfile(full) and full.endswith('.py'):
            files.append(osp.relpath(full, repo))
        else:
            raise ValueError(f'mutation target {target!r} is neither a .py file nor a folder '
                             f'under {repo}')
    return sorted(set(files))


def collect(repo: str, files: Sequence[str], sample: Optional[int] = None,
            max_mutants: Optional[int] = None, seed: int = 0) -> List[Mutant]:
    mutants = []
    for path in files:
        with open(osp.join(repo, path), encoding='utf-8') as f:
            mutants += find_mutants(f.read(), path)
    if sample is not None and sample < len(mutants):
        chosen = set(random.Random(seed).sample(range(len(mutants)), sample))
        mutants = [m for i, m in enumerate(mutants) if i in chosen]
    return mutants[:max_mutants] if max_mutants is not None else mutants


def copy_repo(repo: str, dest: str) -> str:
    shutil.copytree(repo, dest, ignore=_IGNORED, symlinks=True)
    return dest


def _env(workers: int) -> dict:
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return dict(os.environ, PYTHONDONTWRITEBYTECODE='1', OMP_NUM_THREADS=threads,
                MKL_NUM_THREADS=threads)


def baseline(options: Options, sandbox: str, files: Sequence[str], tests: Sequence[str],
             out: str) -> dict:
    """Trace the unmutated test selection once; raise if it does not pass."""
    config = dict(files=list(files), out=osp.join(out, 'baseline.json'),
                  args=PYTEST_ARGS[1:] + ['-m', options.marker] + list(tests))
    with open(osp.join(out, 'baseline-config.json'), 'w') as f:
        json.dump(config, f)
    with open(osp.join(out, 'baseline.log'), 'w') as log:
        rc = subprocess.call([options.python, osp.join(HERE, 'linetrace.py'), sandbox,
                              osp.join(out, 'baseline-config.json')], stdout=log,
                             stderr=subprocess.STDOUT, env=_env(options.workers))
    if rc != 0 or not osp.isfile(config['out']):
        raise RuntimeError(f'the unmutated tests do not pass (pytest exit code {rc}); see '
                           f'{osp.join(out, "baseline.log")}: fix them before a mutation run')
    with open(config['out']) as f:
        return json.load(f)


class Plan:
    """The tests to run for a mutant, from the baseline trace."""

    def __init__(self, trace: dict, file_tests: Dict[str, List[str]]) -> None:
        self.trace, self.durations = trace, trace['durations']
        self.file_nodes = {path: [n for n in self.durations if n.split('::')[0] in tests]
                           for path, tests in file_tests.items()}

    def tests(self, mutant: Mutant) -> List[str]:
        """Node ids executing the mutant's lines (a default argument: calling its function),
        fastest first (empty: not covered)."""
        if mutant.function:
            calls = self.trace['calls'].get(mutant.path, {})
            contexts = set(calls.get(str(mutant.function), ()))
        else:
            hits = self.trace['hits'].get(mutant.path, {})
            contexts = set().union(*(hits.get(str(line), ()) for line in iter_lines(mutant)))
        if 0 in contexts:  # import time: every test of the file's selection depends on it
            nodes = self.file_nodes[mutant.path]
        else:
            nodes = [self.trace['contexts'][c] for c in contexts]
        return sorted(set(nodes), key=lambda n: (self.durations.get(n, 0.0), n))

    def seconds(self, nodes: Sequence[str]) -> float:
        return sum(self.durations.get(n, 0.0) for n in nodes)


class Workers:
    """``count`` fork workers, each with its own copy of the repository."""

    def __init__(self, options: Options, sandboxes: Sequence[str], modules: str,
                 out: str) -> None:
        self.procs = []
        for i, sandbox in enumerate(sandboxes):
            log = open(osp.join(out, f'worker{i}.log'), 'w')
            proc = subprocess.Popen([options.python, osp.join(HERE, 'forkserver.py'), sandbox,
                                     modules], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=log, text=True, env=_env(len(sandboxes)))
            self.procs.append((proc, log, osp.join(out, f'worker{i}-job.log')))

    def run(self, jobs: List[dict], done: Callable[[dict, dict, str], None]) -> None:
        """Run every job (``path``, ``source``, ``stages``); ``done(job, reply,
        log_text)`` is called under a lock as each finishes."""
        todo, lock, failures = queue.Queue(), threading.Lock(), []
        for job in jobs:
            todo.put(job)

        def serve(proc, job_log):
            try:
                while not failures:
                    try:
                        job = todo.get_nowait()
                    except queue.Empty:
                        return
                    proc.stdin.write(json.dumps(dict(job, log=job_log)) + '\n')
                    proc.stdin.flush()
                    line = proc.stdout.readline()
                    if not line:
                        raise RuntimeError('a mutation worker died; see worker*.log in the '
                                           'output folder')
                    with open(job_log, errors='replace') as f:
                        text = f.read()
                    with lock:
                        done(job, json.loads(line), text)
            except BaseException as error:  # noqa: B902  (re-raised in the calling thread)
                failures.append(error)

        threads = [threading.Thread(target=serve, args=(p, j), daemon=True)
                   for p, _, j in self.procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]

    def close(self) -> None:
        for proc, log, _ in self.procs:
            proc.stdin.close()
            proc.wait()
            log.close()


def _status(reply: dict) -> str:
    if reply['timed_out']:
        return TIMEOUT
    return {0: SURVIVED, 1: KILLED, 2: KILLED}.get(reply['rc'], ERROR)


def _killer(text: str) -> Optional[str]:
    match = re.search(r'^(?:FAILED|ERROR) (\S+)', text, re.M)
    return match.group(1) if match else None


def run(repo: str, options: Options, progress: Callable[[str], None] = print) -> dict:
    """Run the mutants of ``options.targets``; returns the report (also written to ``out``)."""
    start = time.time()
    out = osp.join(repo, options.out)
    os.makedirs(out, exist_ok=True)
    files = source_files(repo, options.targets)
    mutants = collect(repo, files, options.sample, options.max_mutants, options.seed)
    selector = None if options.tests else Selector(repo, options.package)
    file_tests = {p: list(options.tests) if options.tests else selector.tests_for(p)
                  for p in sorted({m.path for m in mutants})}
    all_tests = sorted(set().union(*file_tests.values())) if file_tests else []
    progress(f'{len(mutants)} mutants in {len(file_tests)} files; baseline of '
             f'{len(all_tests)} test files')
    results = [dict(mutant.to_dict(), id=i, status=NOT_COVERED, tests_run=0, seconds=0.0)
               for i, mutant in enumerate(mutants)]
    tmp = tempfile.mkdtemp(prefix='mutation-')
    try:
        sandboxes = [copy_repo(repo, osp.join(tmp, f'w{i}')) for i in range(options.workers)]
        trace = baseline(options, sandboxes[0], file_tests, all_tests, out) if mutants else {}
        modules = osp.join(out, 'modules.json')
        with open(modules, 'w') as f:
            json.dump(trace.get('modules', []), f)
        plan = Plan(trace, file_tests) if mutants else None
        jobs = []
        for result, mutant in zip(results, mutants):
            nodes = plan.tests(mutant)
            if nodes:
                jobs.append(_job(result, mutant, repo, options, plan, nodes))
        workers = Workers(options, sandboxes, modules, out) if jobs else None
        try:
            if workers is None:
                return _finish(results, file_tests, options, start, out)
            _check_workers(workers, plan, file_tests, options)
            counter = iter(range(1, len(jobs) + 1))

            def done(job, reply, text):
                result = results[job['id']]
                ran = sum(len(stage['nodes']) for stage in job['stages'][:reply['stages']])
                result.update(status=_status(reply), seconds=reply['seconds'], tests_run=ran,
                              killer=_killer(text), rc=reply['rc'])
                if result['status'] == ERROR:
                    result['log'] = text[-3000:]
                progress(f'[{next(counter):>4}/{len(jobs)}] {result["status"]:<8} '
                         f'{job["label"]} ({reply["seconds"]:.1f} s)')

            workers.run(jobs, done)
        finally:
            if workers is not None:
                workers.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _finish(results, file_tests, options, start, out)


def _finish(results: list, file_tests: dict, options: Options, start: float, out: str) -> dict:
    try:
        commit = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=out, text=True,
                                capture_output=True).stdout.strip() or None
    except OSError:
        commit = None
    report = dict(command=dict(options.__dict__), files=file_tests, mutants=results,
                  commit=commit, wall_seconds=round(time.time() - start, 1),
                  workers=options.workers)
    write_report(report, out)
    return report


def _stage(options: Options, plan: Plan, nodes: List[str]) -> dict:
    """One pytest run of ``nodes`` (node ids, in this order)."""
    return dict(args=PYTEST_ARGS + ['-m', options.marker] + nodes, nodes=nodes,
                timeout=options.min_timeout + options.timeout_factor * plan.seconds(nodes))


def _job(result: dict, mutant: Mutant, repo: str, options: Options, plan: Plan,
         nodes: List[str]) -> dict:
    """Stage 1: the tests executing the mutant in one test file, ``test_<module>.py`` if it has
    some, else the file holding the fastest of them (collecting one file is cheap, and most
    mutants die there). Stage 2, if the mutant survives: the other tests executing it, then,
    to confirm (``options.confirm``), every other test of the files involved (fixtures and
    caches shared between tests), so that a survivor is not an artefact of the narrowing."""
    with open(osp.join(repo, mutant.path), encoding='utf-8') as f:
        source = apply_mutant(f.read(), mutant)
    files = [n.split('::')[0] for n in nodes]
    own = f'test_{osp.splitext(osp.basename(mutant.path))[0]}.py'
    first_file = next((f for f in files if osp.basename(f) == own), files[0])
    first = [n for n in nodes if n.split('::')[0] == first_file]
    rest = [n for n in nodes if n.split('::')[0] != first_file]
    if options.confirm:
        rest += sorted((n for n in plan.durations if n.split('::')[0] in set(files)
                        and n not in set(nodes)), key=lambda n: (plan.durations[n], n))
    stages = [_stage(options, plan, first)] + ([_stage(options, plan, rest)] if rest else [])
    return dict(id=result['id'], path=mutant.path, source=source, stages=stages,
                label=f'{mutant.path}:{mutant.line} {mutant.operator}')


def _check_workers(workers: Workers, plan: Plan, file_tests: dict, options: Options) -> None:
    """Each worker runs a few unmutated tests first: a fork worker that fails them (a library
    that does not survive fork) would report every mutant killed."""
    fastest = (sorted(ns, key=lambda n: plan.durations[n])[:3] for ns in plan.file_nodes.values())
    nodes = sorted(set().union(*fastest))
    replies = []
    jobs = [dict(id=i, path=None, stages=[_stage(options, plan, nodes)])
            for i in range(len(workers.procs))]
    workers.run(jobs, lambda job, reply, text: replies.append((reply, text)))
    for reply, text in replies:
        if reply['rc'] != 0:
            raise RuntimeError(f'unmutated tests fail in a fork worker (exit code {reply["rc"]}):'
                               f'\n{text[-3000:]}')
