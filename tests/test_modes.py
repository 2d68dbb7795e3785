"""Each mode, after Chain of Code's ablations."""

import pytest

from lmulator.errors import ConfigError
from lmulator.testing import delta_rule, value_rule

CELL = "a = 2\nb = int('three')\nc = a + b\nc"


def test_interweave_emulates_only_the_failing_statement(lm, session):
    lm.rules(delta_rule("b = int('three')", {"b": 3}))
    result = session(mode="interweave").run(CELL)
    assert result.value == 5
    assert [r.line for r in result.emulated] == [2]


def test_python_mode_emulates_nothing(lm, session):
    result = session(mode="python").run(CELL)
    assert isinstance(result.error, ValueError)
    assert lm.log() == []


def test_python_mode_does_not_emulate_undefined_calls(lm, session):
    result = session(mode="python").run("x = get_country('Paris')")
    assert isinstance(result.error, NameError)
    assert lm.log() == []


def test_lm_mode_emulates_every_statement(lm, session):
    lm.rules(
        delta_rule("a = 2", {"a": 2}),
        delta_rule("b = int('three')", {"b": 3}),
        delta_rule("c = a + b", {"c": 5}),
        {"match": ["Value request", "Emulate: c"], "reply": {"value": 5}},
    )
    s = session(mode="lm")
    result = s.run(CELL)
    assert result.error is None
    assert result.value == 5
    assert len(result.emulated) == 4
    assert s.namespace["c"] == 5
    # State is tracked statement by statement: the third request saw a and b.
    third = lm.user_messages()[2]
    assert "a = 2" in third and "b = 3" in third


def test_try_python_except_lm_restores_bindings_then_emulates_the_cell(lm, session):
    lm.rules(
        {
            "match": ["Statement request", "x = 10"],
            "reply": {"delta": {"x": 10, "y": 99, "z": 100}},
        },
    )
    s = session(mode="try-python-except-lm")
    s.run("x = 1")
    result = s.run("x = 10\ny = int('ninety-nine')\nz = y + 1\nz")
    assert result.error is None
    # The LM saw the state from before the cell (x == 1), not the half-run cell.
    assert "x = 1" in lm.user_messages()[0]
    assert s.namespace["x"] == 10 and s.namespace["y"] == 99
    assert result.value == 100


def test_try_python_except_lm_state_emulates_from_the_failing_statement(lm, session):
    lm.rules(
        {
            "match": ["Statement request", "y = int('ninety-nine')"],
            "reply": {"delta": {"y": 99, "z": 100}},
        },
    )
    s = session(mode="try-python-except-lm-state")
    result = s.run("x = 10\ny = int('ninety-nine')\nz = y + 1\nz")
    assert result.error is None
    assert "x = 10" in lm.user_messages()[0]
    assert s.namespace["x"] == 10
    assert result.value == 100


def test_try_python_modes_do_not_call_the_lm_when_python_succeeds(lm, session):
    for mode in ("try-python-except-lm", "try-python-except-lm-state"):
        assert session(mode=mode).run("sum([1, 2])").value == 3
    assert lm.log() == []


def test_unknown_mode_is_a_config_error(session):
    s = session()
    with pytest.raises(ConfigError, match="unknown mode 'bogus'"):
        s.set_mode("bogus")


def test_mode_switch_changes_behaviour(lm, session):
    lm.rules(value_rule("oracle()", 1))
    s = session(mode="python")
    assert isinstance(s.run("oracle()").error, NameError)
    s.set_mode("interweave")
    assert s.run("oracle()").value == 1


def test_native_statements_run_as_python_in_every_mode(lm, session):
    import ast

    for mode in ("lm", "interweave", "try-python-except-lm"):
        s = session(mode=mode)
        s.native_statement = lambda stmt: isinstance(stmt, ast.Expr) and "host" in ast.unparse(stmt)
        s.namespace["host"] = lambda ns=s.namespace: ns.__setitem__("ran", True)
        s.run("host()")
        assert s.namespace["ran"] is True
        s.namespace["host"] = lambda: 1 / 0
        result = s.run("host()\nafter = 1")
        assert isinstance(result.error, ZeroDivisionError)  # failing, and still not emulated
        assert "after" not in s.namespace
    assert lm.log() == []
