"""Baseline run: pytest with a line tracer on the mutated files (a script; stdlib + pytest only).

    python linetrace.py ROOT CONFIG.json

CONFIG holds ``files`` (root-relative sources to trace), ``args`` (pytest arguments) and ``out``.
Writes ``out`` (JSON): ``contexts`` (index 0 is ``<import>``, then one pytest node id per test),
``hits`` (``{file: {line: [context, ...]}}``), ``calls`` (``{file: {co_firstlineno: [context,
...]}}``: which tests called each function), ``durations`` (seconds per node id, setup and
teardown included), ``failed`` node ids, the exit code, and ``modules``: the modules the run
imported from outside ROOT, in import order, for the fork workers to import once.

Lines run by module or class bodies (import time) are credited to ``<import>`` whichever test
imported them: every test depends on them.
"""
import json
import os
import sys
import threading

_CO_OPTIMIZED = 0x1  # set on function code; module and class bodies lack it


class LineTracer:
    """A pytest plugin recording which test executed which line of the traced files."""

    def __init__(self, files: dict) -> None:
        self.files = files  # absolute path -> name in the report
        self.contexts = ['<import>']
        self.context = 0
        self.hits = {name: {} for name in files.values()}
        self.calls = {name: {} for name in files.values()}
        self.durations, self.failed = {}, []

    def _call(self, frame, event, arg):
        name = self.files.get(frame.f_code.co_filename)
        if name is None:
            return None
        lines, function = self.hits[name], frame.f_code.co_flags & _CO_OPTIMIZED
        if function:
            self.calls[name].setdefault(frame.f_code.co_firstlineno, set()).add(self.context)

        def _line(frame, event, arg):
            if event == 'line':
                lines.setdefault(frame.f_lineno, set()).add(self.context if function else 0)
            return _line

        return _line

    def pytest_configure(self, config):
        threading.settrace(self._call)
        sys.settrace(self._call)

    def pytest_unconfigure(self, config):
        sys.settrace(None)
        threading.settrace(None)

    def pytest_runtest_logstart(self, nodeid, location):
        self.contexts.append(nodeid)
        self.context = len(self.contexts) - 1

    def pytest_runtest_logfinish(self, nodeid, location):
        self.context = 0

    def pytest_runtest_logreport(self, report):
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.failed:
            self.failed.append(report.nodeid)

    def dump(self, path: str, exit_code: int, root: str) -> None:
        root = os.path.realpath(root) + os.sep
        modules = []
        for name, module in list(sys.modules.items()):
            file = getattr(module, '__file__', None)
            inside = bool(file) and os.path.realpath(file).startswith(root)
            if name != '__main__' and not inside:
                modules.append(name)
        hits, calls = ({name: {line: sorted(ctx) for line, ctx in lines.items()}
                        for name, lines in table.items()} for table in (self.hits, self.calls))
        with open(path, 'w') as f:
            json.dump(dict(exit_code=exit_code, contexts=self.contexts, hits=hits, calls=calls,
                           durations=self.durations, failed=self.failed, modules=modules), f)


def main() -> int:
    root, config = sys.argv[1], sys.argv[2]
    sys.path[0] = root  # as `python -m pytest` from ROOT; this script's folder shadows nothing
    os.chdir(root)
    with open(config) as f:
        cfg = json.load(f)
    import pytest
    tracer = LineTracer({os.path.join(root, p): p for p in cfg['files']})
    exit_code = int(pytest.main(cfg['args'], plugins=[tracer]))
    tracer.dump(cfg['out'], exit_code, root)
    return exit_code


if __name__ == '__main__':
    sys.exit(main())
