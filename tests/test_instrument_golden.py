"""Golden tests of the rewrite: one instrumented construct each, source in, rewritten source out.

Site ids count from 1 in the order the rewrite meets sites; builtins are known names.
"""

import ast
import builtins
import itertools

import pytest

from lmulator.engine.instrument.rewriter import Instrumenter

KNOWN = frozenset(dir(builtins))


def rewrite(source: str, known: frozenset[str] = frozenset(), **options: bool) -> str:
    tree = ast.parse(source)
    inst = Instrumenter(source, KNOWN | known, itertools.count(1), **options).run(tree)
    return ast.unparse(inst.tree)


CASES = [
    pytest.param(
        "x = get_country('Paris')",
        frozenset(),
        {},
        "x = _lm_call_(2, 'get_country', 'Paris')",
        id="a call of a missing function",
    ),
    pytest.param(
        "y = threshold + 1",
        frozenset(),
        {},
        "y = _lm_name_(2, 'threshold') + 1",
        id="a read of a missing name",
    ),
    pytest.param(
        "x = len('ab')",
        frozenset(),
        {},
        "x = len('ab')",
        id="a defined call is untouched",
    ),
    pytest.param(
        'def is_sarcastic(s: str) -> bool:\n    """Whether s is sarcastic."""',
        frozenset(),
        {},
        """\
@_lm_stub_(2)
def is_sarcastic(s: str) -> bool:
    try:
        'Whether s is sarcastic.'
    except Exception as _lm_e_:
        _lm_stmt_(3, _lm_e_, _lm_locals_())
""",
        id="a stub function",
    ),
    pytest.param(
        "def f(a):\n    b = a.upper()\n    return b",
        frozenset(),
        {},
        """\
def f(a):
    try:
        b = a.upper()
    except Exception as _lm_e_:
        _lm_d_ = _lm_stmt_(2, _lm_e_, _lm_locals_())
        if 'b' in _lm_d_:
            b = _lm_d_['b']
    try:
        return b
    except Exception as _lm_e_:
        return _lm_return_(3, _lm_e_, _lm_locals_())
""",
        id="a statement in a function binds its delta",
    ),
    pytest.param(
        "def f():\n    try:\n        g()\n    except ValueError:\n        pass",
        frozenset({"g"}),
        {},
        """\
def f():
    try:
        try:
            _lm_rt_.try_depth += 1
            try:
                g()
            except ValueError:
                pass
        finally:
            _lm_rt_.try_depth -= 1
    except Exception as _lm_e_:
        _lm_stmt_(2, _lm_e_, _lm_locals_())
""",
        id="a program's own try counts its depth",
    ),
    pytest.param(
        "def f(x: Unknown) -> int:\n    return x",
        frozenset(),
        {},
        """\
def f(x: 'Unknown') -> int:
    try:
        return x
    except Exception as _lm_e_:
        return _lm_return_(2, _lm_e_, _lm_locals_())
""",
        id="an annotation naming something missing stays a string",
    ),
    pytest.param(
        "f = lambda v: v + offset",
        frozenset(),
        {},
        "f = lambda v: v + _lm_name_(2, 'offset')",
        id="a missing name in a lambda",
    ),
    pytest.param(
        "ys = [v * k for v in values]",
        frozenset({"values"}),
        {},
        "ys = [v * _lm_name_(2, 'k') for v in values]",
        id="a comprehension's own names are not missing",
    ),
    pytest.param(
        "y = compute(x)",
        frozenset({"compute"}),
        {"partial": True},
        "y = _lm_pcall_(3, compute, _lm_name_(2, 'x'))",
        id="partial: a call of a defined function may meet a stand-in",
    ),
    pytest.param(
        "a, b = pair",
        frozenset(),
        {"partial": True},
        "a, b = _lm_unpack_(_lm_name_(2, 'pair'), 2)",
        id="partial: unpacking gives as many values as targets",
    ),
    pytest.param(
        "for i in range(3):\n    pass",
        frozenset(),
        {"record_ran": True},
        """\
for i in range(3):
    _lm_ran_(3, _lm_locals_())
    _lm_ran_(2, _lm_locals_())
    pass
else:
    _lm_ran_(3, _lm_locals_())
""",
        id="full trace: a loop counts as run when a branch starts",
    ),
    pytest.param(
        "total = items[0] + 1",
        frozenset({"items"}),
        {},
        "total = items[0] + 1",
        id="the top level is not wrapped",
    ),
]


@pytest.mark.parametrize("source, known, options, expected", CASES)
def test_rewrite(source, known, options, expected):
    assert rewrite(source, known, **options) == expected.rstrip("\n")


def test_the_rewritten_code_runs_as_the_source_where_nothing_is_missing():
    source = "def f(a):\n    b = a.upper()\n    return b\nresult = f('x')"
    plain: dict = {}
    exec(compile(source, "<s>", "exec"), plain)
    hooked: dict = {}
    exec(compile(rewrite(source), "<s>", "exec"), hooked)
    assert hooked["result"] == plain["result"] == "X"
