"""A mutation worker: one warm interpreter that runs pytest on each mutant in a forked child.

    python forkserver.py ROOT MODULES.json   (a script; stdlib only until it imports pytest)

ROOT is this worker's private copy of the repository. The worker imports once the modules the
baseline run imported from outside ROOT (torch, mmengine, mmdet, ...: seconds per process), but
nothing from ROOT: every child imports the project afresh, so OpenMMLab registries see each name
registered once per process. Then, for each job read from stdin (one JSON line: ``path``,
``source``, ``stages``, ``log``), it writes the mutated source into ROOT and, stage by stage
(``args``, ``timeout``) until one does not pass, forks a child that runs ``pytest.main(args)``
with its output in ``log`` and kills the child's process group after ``timeout`` seconds. It
writes the original bytes back (in a ``finally``) before it answers with one JSON line: ``rc``
of the last stage (None on timeout), ``timed_out``, ``stages`` run, ``seconds``.
"""
import importlib
import json
import os
import signal
import sys
import time
import traceback


def _child(args: list, log: str) -> None:
    code = 98
    try:
        os.setpgid(0, 0)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        import pytest
        code = int(pytest.main(args))
    except BaseException:  # noqa: B902  (the child must never return into the worker loop)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float):
    """Exit code of ``pid``, or None once ``timeout`` has passed (its group is then killed)."""
    deadline, parent = time.monotonic() + timeout, os.getppid()
    rc = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            break
        if os.getppid() != parent:  # the run was stopped: leave nothing behind
            os.killpg(pid, signal.SIGKILL)
            sys.exit(1)
        time.sleep(0.02)
    try:
        os.killpg(pid, signal.SIGKILL)  # the child on timeout; whatever it left running
    except (ProcessLookupError, PermissionError):
        pass
    if rc is None:
        os.waitpid(pid, 0)
    return rc


def _run(args: list, timeout: float, log: str):
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(args, log)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it first
    return _wait(pid, timeout)


def run_job(root: str, job: dict, originals: dict) -> dict:
    """Write the mutant, run its stages (each ``args``, ``timeout``) until one does not pass,
    restore the file."""
    path = os.path.join(root, job['path']) if job.get('path') else None
    if path is not None:
        if path not in originals:
            with open(path, 'rb') as f:
                originals[path] = f.read()
        with open(path, 'w', encoding='utf-8') as f:
            f.write(job['source'])
    start, rc, stages = time.monotonic(), 0, 0
    try:
        for stage in job['stages']:
            stages += 1
            rc = _run(stage['args'], stage['timeout'], job['log'])
            if rc != 0:
                break
    finally:
        if path is not None:
            with open(path, 'wb') as f:
                f.write(originals[path])
    return dict(id=job['id'], rc=rc, timed_out=rc is None, stages=stages,
                seconds=round(time.monotonic() - start, 3))


def main() -> None:
    root, modules = sys.argv[1], sys.argv[2]
    sys.path[0] = root  # as `python -m pytest` from ROOT; this script's folder shadows nothing
    os.chdir(root)
    replies = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)  # whatever an import prints must not mix with the replies
    with open(modules) as f:
        names = json.load(f)
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: B902  (an optional backend; the child imports it if needed)
            pass
    import pytest  # noqa: F401  (warm)
    import gc
    import threading
    # Children never collect the imported heap again: pytest calls gc.collect() at exit, which
    # traverses millions of objects (seconds per child) unless they are frozen before the fork.
    gc.freeze()
    print(f'forkserver {os.getpid()}: {len(names)} modules imported, '
          f'{threading.active_count()} thread(s)', file=sys.stderr, flush=True)
    originals = {}
    for line in sys.stdin:
        replies.write(json.dumps(run_job(root, json.loads(line), originals)) + '\n')


if __name__ == '__main__':
    main()
