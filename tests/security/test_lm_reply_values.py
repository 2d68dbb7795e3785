"""LM values that try to be code, or are too big, too deep or off the schema: inert or refused."""

import json

import pytest

from lmulator.errors import EmulationError
from lmulator.testing import delta_rule

from .lm_attack import attempt


def test_code_strings_stay_inert(lm, session, capsys):
    payload = "__import__('os').system('echo PWNED')"
    lm.rules(delta_rule("n = int(w)", {"n": payload}))
    s = session()
    s.run("w = 'one'")
    s.run("n = int(w)")
    assert s.namespace["n"] == payload
    assert "PWNED" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "literal",
    ["__import__('os')", "exec('1')", "(lambda: 1)()", "open('/etc/passwd')", "[x for x in ()]"],
)
def test_py_payloads_that_are_not_literals_are_refused(lm, session, literal):
    s, before, result = attempt(lm, session, json.dumps({"delta": {"n": {"$py": literal}}}))
    assert isinstance(result.error, EmulationError)
    assert s.user_names() == before


def test_huge_and_deep_values_are_refused(lm, session):
    deep = "[" * 5000 + "]" * 5000
    s, before, result = attempt(lm, session, '{"delta": {"n": ' + deep + "}}")
    assert isinstance(result.error, EmulationError) and s.user_names() == before
    s, before, result = attempt(lm, session, '{"delta": {"n": "' + "x" * 300_000 + '"}}')
    assert isinstance(result.error, EmulationError) and s.user_names() == before


@pytest.mark.parametrize(
    "reply",
    ['"just text"', "[1, 2]", '{"valu": 1}', '{"delta": [1]}', "{"],
)
def test_replies_off_the_schema_are_refused(lm, session, reply):
    s, before, result = attempt(lm, session, reply)
    assert isinstance(result.error, EmulationError)
    assert s.user_names() == before
    assert s.run("n + 1").value == 1


def test_fields_beside_the_delta_are_ignored(lm, session):
    s, before, result = attempt(lm, session, '{"delta": {"n": 1}, "extra": 2}')
    assert result.error is None
    assert s.namespace["n"] == 1 and "extra" not in s.namespace
