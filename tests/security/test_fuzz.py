"""Generated programs through the policy transform and the stepwise executor: no internal
error, and for code with nothing to emulate the same result as plain CPython."""

import builtins

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import EmulationError

NAMES = ["a", "b", "c", "xs", "d"]
ints = st.integers(min_value=-50, max_value=50).map(str)
name = st.sampled_from(NAMES)
atom = st.one_of(ints, name, st.just("len(xs)"), st.just("sum(xs)"), st.just("d.get('k', 0)"))


@st.composite
def expression(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        return draw(atom)
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "==", "<", "and", "or", "if"]))
    left, right = draw(expression(depth + 1)), draw(expression(depth + 1))
    if op == "if":
        return f"({left} if {right} else {draw(expression(depth + 1))})"
    return f"({left} {op} {right})"


@st.composite
def statement(draw, depth=0):
    kind = draw(st.sampled_from(["assign", "aug", "append", "item", "if", "for", "func", "try"]))
    target, expr = draw(st.sampled_from(["a", "b", "c"])), draw(expression())
    if kind == "assign":
        return [f"{target} = {expr}"]
    if kind == "aug":
        return [f"{target} += {expr}"]
    if kind == "append":
        return [f"xs.append({expr})"]
    if kind == "item":
        return [f"d['k'] = {expr}"]
    if depth > 1:
        return [f"{target} = {expr}"]
    body = [
        "    " + line
        for s in draw(st.lists(statement(depth + 1), min_size=1, max_size=3))
        for line in s
    ]
    if kind == "if":
        return [f"if {expr}:", *body]
    if kind == "for":
        return [f"for {target} in range(abs({draw(ints)}) % 5):", *body]
    if kind == "try":
        return ["try:", *body, "except Exception:", "    c = -1"]
    return ["def f(a, b=2):", *body, "    return a", f"c = f({expr})"]


@st.composite
def program(draw):
    lines = ["a, b, c, xs, d = 1, 2, 3, [1, 2], {'k': 1}"]
    for s in draw(st.lists(statement(), min_size=1, max_size=6)):
        lines.extend(s)
    lines.append("(a, b, c, xs, d)")
    return "\n".join(lines)


def _plain(source):
    ns = {"__builtins__": builtins}
    *body, last = source.split("\n")
    try:
        exec("\n".join(body), ns)
        return eval(last, ns), None
    except Exception as exc:
        return None, type(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program())
def test_engine_matches_cpython_on_code_with_nothing_to_emulate(source):
    expected, error = _plain(source)
    result = Session(Config(mode="python")).run(source)
    if error is None:
        assert result.error is None, (source, result.error)
        assert repr(result.value) == repr(expected)  # repr: values may contain themselves
    else:
        assert type(result.error) is error, (source, result.error)


@settings(max_examples=60, deadline=None)
@given(program())
def test_interweave_never_fails_internally(source):
    # No LM is reachable: code CPython runs gives CPython's result; a statement CPython fails on
    # is handed to the LM, which cannot answer: an EmulationError (or the program's own error),
    # never some other exception from inside the engine.
    expected, error = _plain(source)
    result = Session(Config(base_url="http://127.0.0.1:9/v1", timeout=0.5, cache="off")).run(source)
    if error is None:
        assert result.error is None, (source, result.error)
        assert repr(result.value) == repr(expected)
    else:
        assert isinstance(result.error, (EmulationError, error)), (source, result.error)
