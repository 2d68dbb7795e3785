"""Instrumentation: what is rewritten, and what is left as it is."""

import ast
import builtins
import itertools
import re

import pytest

from lmulator.engine.instrument.analysis import bound_names, is_stub
from lmulator.engine.instrument.rewriter import Instrumenter
from lmulator.engine.instrument.sites import CALL_HOOK, NAME_HOOK, STMT_HOOK


def instrument(source, known=()):
    tree = ast.parse(source)
    inst = Instrumenter(source, set(known) | set(dir(builtins)), itertools.count(1)).run(tree)
    return ast.unparse(inst.tree), inst


@pytest.mark.parametrize(
    "body, expected",
    [
        ('"""Doc."""', True),
        ("...", True),
        ("pass", True),
        ('"""Doc."""\n    ...', True),
        ("raise NotImplementedError", True),
        ("raise NotImplementedError('later')", True),
        ("return 1", False),
        ('"""Doc."""\n    return 1', False),
        ("raise ValueError", False),
    ],
)
def test_stub_detection(body, expected):
    fn = ast.parse(f"def f(x):\n    {body}").body[0]
    assert is_stub(fn) is expected


def test_bound_names_cover_every_binding_form():
    src = (
        "import a.b as c\nfrom d import e\nx = 1\nfor i in y: pass\n"
        "def f(p, *q, k=1, **r): pass\nclass K: pass\nwith w as v: pass\n"
        "try: pass\nexcept E as err: pass\n[z for z in y]\n(n := 1)\n"
    )
    names = bound_names(ast.parse(src))
    assert {"c", "e", "x", "i", "f", "p", "q", "k", "r", "K", "v", "err", "z", "n"} <= names
    assert "y" not in names and "w" not in names


def test_only_undefined_calls_are_rewritten():
    code, inst = instrument("x = len(get_country(p))", known={"p"})
    assert re.search(rf"{CALL_HOOK}\(\d+, 'get_country', p\)", code)
    assert "len(" in code
    assert [s.kind for s in inst.sites.values() if s.kind == "call"] == ["call"]


def test_dotted_calls_on_undefined_roots_are_one_emulation():
    code, _ = instrument("y = np.mean(xs)", known={"xs"})
    assert re.search(rf"{CALL_HOOK}\(\d+, 'np.mean', xs\)", code)


def test_undefined_reads_are_rewritten_defined_ones_are_not():
    code, _ = instrument("y = a + b", known={"a"})
    assert re.search(rf"a \+ {NAME_HOOK}\(\d+, 'b'\)", code)


def test_names_bound_later_in_the_cell_are_not_emulated():
    code, _ = instrument("def g():\n    return helper()\ndef helper():\n    return 1")
    assert CALL_HOOK not in code


def test_top_level_statements_are_not_wrapped_inner_ones_are():
    code, _ = instrument("x = 1\nfor i in range(3):\n    x += i")
    assert code.startswith("x = 1\n")
    assert code.count(STMT_HOOK) == 1


def test_statements_inside_a_user_try_body_are_not_wrapped():
    code, _ = instrument(
        "def f():\n    try:\n        a = 1\n        b = 2\n    except ValueError:\n        c = 3"
    )
    # Only the handler's statement and the try statement itself are wrapped.
    assert code.count(STMT_HOOK) == 2


def test_cell_with_nothing_undefined_gains_no_value_hooks():
    code, _ = instrument("def f(n):\n    return sum(i * i for i in range(n))\nf(3)")
    assert CALL_HOOK not in code and NAME_HOOK not in code


def test_undefined_annotations_are_kept_as_strings():
    code, _ = instrument("def f(x: np.ndarray) -> Frame:\n    return x")
    assert "x: 'np.ndarray'" in code and "-> 'Frame'" in code
