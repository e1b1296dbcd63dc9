"""Mutants of a Python source file, found on its AST and applied as one text edit each.

A mutant replaces one span of the source (located with the AST's positions) by new text: the
operator token alone where it can (``a + b`` -> ``a - b``), so the rest of the file stays
byte-identical and the report shows the mutated line as a diff. Operators:

* ``compare``: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``is`` <-> ``is not``,
  ``in`` <-> ``not in``;
* ``arithmetic``: ``+`` <-> ``-``, ``*`` <-> ``/``, ``//`` -> ``/``, ``%`` -> ``*``,
  ``**`` -> ``*``, bit operators, in expressions and augmented assignments;
* ``boolean``: ``and`` <-> ``or``, ``not x`` -> ``x``; ``unary``: ``-x`` -> ``x``, ``~x`` -> ``x``;
* ``constant``: 0 <-> 1, other numbers n -> n + 1, ``True`` <-> ``False``;
* ``remove``: an expression statement (a call), an augmented or attribute/item assignment, a
  ``del``, ``raise`` or ``assert`` becomes ``pass``; ``return x`` becomes ``return None``;
* ``negate``: the condition of an ``if`` (statement or expression) becomes ``not (...)``;
* ``min_max``: ``min`` <-> ``max`` (also ``amin``/``amax``, ``minimum``/``maximum`` methods);
* ``keyword``: one keyword argument dropped from a call.

Not behaviour, so never mutated: docstrings and comments, string constants, f-strings, the
messages of ``raise`` / ``assert`` / ``warnings.warn``, logging calls (``print``, ``print_log``,
``logger.*``, ``logging.*``), ``__repr__`` / ``__str__`` / ``extra_repr``, decorators, type
annotations, imports, ``__all__``, ``if __name__ == '__main__'`` / ``if TYPE_CHECKING`` blocks
and lines marked ``# pragma: no mutate``.
"""
import ast
import bisect
import re
from dataclasses import asdict, dataclass
from typing import Iterator, List, Optional, Tuple

_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn,
            ast.NotIn: ast.In}
_ARITHMETIC = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
               ast.FloorDiv: ast.Div, ast.Mod: ast.Mult, ast.Pow: ast.Mult, ast.LShift: ast.RShift,
               ast.RShift: ast.LShift, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
               ast.BitXor: ast.BitAnd}
# How an operator is written: a regex finding it between its operands, and its text.
_TOKENS = {ast.Lt: ('<', '<'), ast.LtE: ('<=', '<='), ast.Gt: ('>', '>'), ast.GtE: ('>=', '>='),
           ast.Eq: ('==', '=='), ast.NotEq: ('!=', '!='), ast.Is: (r'\bis\b', 'is'),
           ast.IsNot: (r'\bis\s+not\b', 'is not'), ast.In: (r'\bin\b', 'in'),
           ast.NotIn: (r'\bnot\s+in\b', 'not in'), ast.Add: (r'\+', '+'), ast.Sub: ('-', '-'),
           ast.Mult: (r'\*', '*'), ast.Div: ('/', '/'), ast.FloorDiv: ('//', '//'),
           ast.Mod: ('%', '%'), ast.Pow: (r'\*\*', '**'), ast.LShift: ('<<', '<<'),
           ast.RShift: ('>>', '>>'), ast.BitAnd: ('&', '&'), ast.BitOr: (r'\|', '|'),
           ast.BitXor: (r'\^', '^'), ast.And: (r'\band\b', 'and'), ast.Or: (r'\bor\b', 'or')}
# Binding strength: a swap to a looser operator needs parentheses, so it is written whole.
_PRECEDENCE = {ast.BitOr: 1, ast.BitXor: 2, ast.BitAnd: 3, ast.LShift: 4, ast.RShift: 4,
               ast.Add: 5, ast.Sub: 5, ast.Mult: 6, ast.Div: 6, ast.FloorDiv: 6, ast.Mod: 6,
               ast.MatMult: 6, ast.Pow: 8}
_MIN_MAX = {'min': 'max', 'max': 'min', 'amin': 'amax', 'amax': 'amin', 'minimum': 'maximum',
            'maximum': 'minimum'}
_LOGGING_CALLS = {'print', 'print_log'}
_LOGGING_OWNERS = {'logger', 'logging', 'log'}
_DISPLAY_FUNCTIONS = {'__repr__', '__str__', 'extra_repr'}
_SKIPPED_IFS = {'TYPE_CHECKING', 'typing.TYPE_CHECKING', "__name__ == '__main__'"}
_SKIP_PRAGMA = 'pragma: no mutate'

Span = Tuple[int, int]  # character offsets [start, end) in the source


@dataclass(frozen=True)
class Mutant:
    """One edit: source span ``(line, col)``-``(end_line, end_col)`` (1-based lines, character
    columns) replaced by ``replacement``; ``before`` / ``after`` are the whole affected lines.

    A default argument is evaluated at import but only matters to the calls that use it, so
    its mutants carry ``function`` (``co_firstlineno`` of the function) for test selection.
    """
    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    operator: str
    replacement: str
    before: str = ''
    after: str = ''
    function: int = 0  # default-argument mutants: first line of the function (decorators in)

    def to_dict(self) -> dict:
        return asdict(self)


def _offsets(source: str) -> List[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def apply_mutant(source: str, mutant: Mutant) -> str:
    """The source with the mutant's span replaced (pure function; nothing is written)."""
    starts = _offsets(source)
    start = starts[mutant.line - 1] + mutant.col
    end = starts[mutant.end_line - 1] + mutant.end_col
    return source[:start] + mutant.replacement + source[end:]


def iter_lines(mutant: Mutant) -> Iterator[int]:
    """The source lines a mutant touches (for coverage look-ups)."""
    return iter(range(mutant.line, mutant.end_line + 1))


def _is_string_statement(node: ast.AST) -> bool:
    """A docstring, or any bare string statement (a no-op)."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _call_name(node: ast.AST) -> tuple:
    """``(owner, name)`` of a call ``owner.name(...)`` / ``name(...)``."""
    func = getattr(node, 'func', None)
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        return (func.value.id if isinstance(func.value, ast.Name) else None), func.attr
    return None, None


def _is_logging_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    owner, name = _call_name(node)
    return (owner is None and name in _LOGGING_CALLS) or owner in _LOGGING_OWNERS


class _Finder(ast.NodeVisitor):
    """Collects ``(span, operator, replacement)`` for every mutable place outside skipped code."""

    def __init__(self, source: str) -> None:
        self.source, self.found = source, []
        self.starts = _offsets(source)
        self.function = 0  # set while visiting the defaults of a function

    def _span(self, node: ast.AST) -> Span:
        def offset(line: int, byte_col: int) -> int:  # ast columns count UTF-8 bytes
            text = self.source[self.starts[line - 1]:self.starts[line]]
            return self.starts[line - 1] + len(text.encode('utf-8')[:byte_col].decode('utf-8'))
        return (offset(node.lineno, node.col_offset),
                offset(node.end_lineno, node.end_col_offset))

    def _text(self, node: ast.AST) -> str:
        start, end = self._span(node)
        return self.source[start:end]

    def add(self, where, operator: str, replacement: str) -> None:
        span = where if isinstance(where, tuple) else self._span(where)
        self.found.append((span, operator, replacement, self.function))

    def _token(self, left: ast.AST, right: ast.AST, op: type) -> Optional[Span]:
        """Span of the operator ``op`` written between two operands (None: not found alone)."""
        start, end = self._span(left)[1], self._span(right)[0]
        gap = self.source[start:end]
        match = re.search(_TOKENS[op][0], gap)
        if '#' in gap or match is None:
            return None
        return start + match.start(), start + match.end()

    def _swap(self, node: ast.AST, operator: str, pairs: list, new_op: type,
              whole: str) -> None:
        """Swap the operator tokens between ``pairs`` of operands for ``new_op``'s, or, when a
        token cannot be located, replace the node by ``whole`` (its mutated ``ast.unparse``)."""
        spans = [self._token(left, right, op) for left, right, op in pairs]
        if any(span is None for span in spans):
            self.add(node, operator, whole)
            return
        text, last = '', spans[0][0]
        for start, end in spans:
            text += self.source[last:start] + _TOKENS[new_op][1]
            last = end
        self.add((spans[0][0], spans[-1][1]), operator, text)

    # -- regions that are not behaviour -------------------------------------------------------
    def visit_Import(self, node):  # noqa: N802  (ast visitor names)
        pass

    visit_ImportFrom = visit_JoinedStr = visit_Import

    def visit_FunctionDef(self, node):  # noqa: N802
        if node.name in _DISPLAY_FUNCTIONS:
            return
        self.function = min([node.lineno] + [d.lineno for d in node.decorator_list])
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(default)
        self.function = 0
        self._body(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):  # noqa: N802
        for base in node.bases:
            self.visit(base)
        self._body(node.body)

    def visit_Module(self, node):  # noqa: N802
        self._body(node.body)

    def visit_AnnAssign(self, node):  # noqa: N802
        if node.value is not None:
            self.visit(node.value)

    def visit_Lambda(self, node):  # noqa: N802
        self.visit(node.body)

    def _body(self, body: list) -> None:
        for stmt in body:
            if not _is_string_statement(stmt):
                self.visit(stmt)

    # -- statements ---------------------------------------------------------------------------
    def visit_Expr(self, node):  # noqa: N802
        if _is_string_statement(node) or _is_logging_call(node.value):
            return
        self.add(node, 'remove', 'pass')
        if _call_name(node.value) != ('warnings', 'warn'):  # whether it warns is behaviour,
            self.visit(node.value)  # not the message

    def visit_Assign(self, node):  # noqa: N802
        if any(isinstance(t, ast.Name) and t.id == '__all__' for t in node.targets):
            return
        if all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets):
            self.add(node, 'remove', 'pass')
        self.generic_visit(node)

    def visit_AugAssign(self, node):  # noqa: N802
        self.add(node, 'remove', 'pass')
        new_op = _ARITHMETIC.get(type(node.op))
        span = self._token(node.target, node.value, type(node.op))
        if new_op is not None and span is not None:
            self.add(span, 'arithmetic', _TOKENS[new_op][1])  # `+=`: the `=` stays
        self.visit(node.value)

    def visit_Delete(self, node):  # noqa: N802
        self.add(node, 'remove', 'pass')

    def visit_Raise(self, node):  # noqa: N802
        self.add(node, 'remove', 'pass')  # the exception and its message are not mutated

    def visit_Assert(self, node):  # noqa: N802
        self.add(node, 'remove', 'pass')
        self.visit(node.test)

    def visit_Return(self, node):  # noqa: N802
        if node.value is not None and not (isinstance(node.value, ast.Constant)
                                           and node.value.value is None):
            self.add(node, 'remove', 'return None')
            self.visit(node.value)

    def visit_If(self, node):  # noqa: N802
        if ast.unparse(node.test) in _SKIPPED_IFS:
            return
        self._negate(node.test)
        self.visit(node.test)
        self._body(node.body)
        self._body(node.orelse)

    def visit_IfExp(self, node):  # noqa: N802
        self._negate(node.test)
        self.generic_visit(node)

    def _negate(self, test: ast.AST) -> None:
        if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
            self.add(test, 'negate', f'not ({self._text(test)})')  # `not x`: boolean drops it

    # -- expressions --------------------------------------------------------------------------
    def visit_Compare(self, node):  # noqa: N802
        operands = [node.left] + node.comparators
        for i, op in enumerate(node.ops):
            ops = list(node.ops)
            ops[i] = _COMPARE[type(op)]()
            whole = ast.unparse(ast.Compare(left=node.left, ops=ops, comparators=node.comparators))
            self._swap(node, 'compare', [(operands[i], operands[i + 1], type(op))],
                       type(ops[i]), whole)
        self.generic_visit(node)

    def visit_BinOp(self, node):  # noqa: N802
        new_op = _ARITHMETIC.get(type(node.op))
        is_format = isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
        if new_op is not None and not is_format:
            whole = f'({ast.unparse(ast.BinOp(left=node.left, op=new_op(), right=node.right))})'
            if _PRECEDENCE[new_op] < _PRECEDENCE[type(node.op)]:
                self.add(node, 'arithmetic', whole)
            else:
                self._swap(node, 'arithmetic', [(node.left, node.right, type(node.op))], new_op,
                           whole)
        self.generic_visit(node)

    def visit_BoolOp(self, node):  # noqa: N802
        new_op = ast.Or if isinstance(node.op, ast.And) else ast.And
        whole = f'({ast.unparse(ast.BoolOp(op=new_op(), values=node.values))})'
        pairs = [(a, b, type(node.op)) for a, b in zip(node.values, node.values[1:])]
        self._swap(node, 'boolean', pairs, new_op, whole)
        self.generic_visit(node)

    def visit_UnaryOp(self, node):  # noqa: N802
        if isinstance(node.op, (ast.Not, ast.USub, ast.Invert)):
            start = self._span(node)[0]
            token = re.match(r'(not\b|-|~)\s*', self.source[start:])
            operator = 'boolean' if isinstance(node.op, ast.Not) else 'unary'
            self.add((start, start + token.end()), operator, '')  # `not x` -> `x`, `-x` -> `x`
        self.generic_visit(node)

    def visit_Constant(self, node):  # noqa: N802
        value = node.value
        if isinstance(value, bool):
            self.add(node, 'constant', repr(not value))
        elif isinstance(value, (int, float)):
            new = 1 - value if value in (0, 1) else value + 1
            self.add(node, 'constant', repr(type(value)(new)))

    def visit_Call(self, node):  # noqa: N802
        if _is_logging_call(node):
            return
        owner, name = _call_name(node)
        if name in _MIN_MAX:
            start, end = self._span(node.func)
            self.add((end - len(name), end), 'min_max', _MIN_MAX[name])
        items = sorted(node.args + node.keywords, key=lambda n: (n.lineno, n.col_offset))
        for i, item in enumerate(items):
            if isinstance(item, ast.keyword) and item.arg is not None:  # not **kwargs
                self._drop(node, items, i)
        self.generic_visit(node)

    def _drop(self, call: ast.Call, items: list, i: int) -> None:
        """Remove keyword ``items[i]`` and one comma next to it."""
        if i > 0:
            span = (self._span(items[i - 1])[1], self._span(items[i])[1])
        elif len(items) > 1:
            span = (self._span(items[0])[0], self._span(items[1])[0])
        else:
            span = self._span(items[0])
        self.add(span, 'keyword', '')


def find_mutants(source: str, path: str = '<source>') -> List[Mutant]:
    """Every mutant of ``source`` that compiles and changes the code, in source order.

    Mutants giving the same source are kept once; ``path`` is recorded, not read.
    """
    finder = _Finder(source)
    finder.visit(ast.parse(source))
    mutants, seen = [], set()  # hashes of the mutated sources
    for (start, end), operator, replacement, function in finder.found:
        mutant = _make(source, finder.starts, path, start, end, operator, replacement, function)
        mutated = apply_mutant(source, mutant)
        if mutated == source or hash(mutated) in seen or _SKIP_PRAGMA in mutant.before:
            continue
        try:
            compile(mutated, path, 'exec')
        except SyntaxError:
            continue
        seen.add(hash(mutated))
        mutants.append(mutant)
    mutants.sort(key=lambda m: (m.line, m.col))
    return mutants


def _make(source: str, starts: List[int], path: str, start: int, end: int, operator: str,
          replacement: str, function: int) -> Mutant:
    def position(offset: int) -> Tuple[int, int]:
        line = min(bisect.bisect_right(starts, offset) - 1, len(starts) - 2)
        return line + 1, offset - starts[line]

    (line, col), (end_line, end_col) = position(start), position(end)
    first, last = starts[line - 1], starts[end_line]
    before = source[first:last].rstrip('\n')
    after = (source[first:start] + replacement + source[end:last]).rstrip('\n')
    return Mutant(path, line, col, end_line, end_col, operator, replacement, before, after,
                  function)
