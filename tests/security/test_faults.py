"""LM faults in every mode: the engine survives, the cell ends with one clear error naming the
line, and the namespace is what it was before the failing statement."""

import pytest

from lmulator.config import MODES, Config
from lmulator.engine.session import Session
from lmulator.errors import EmulationError

FAULTS = {
    "http 500": {"fault": {"status": 500, "message": "boom"}, "reply": {"value": 1}},
    "http 429": {"fault": {"status": 429, "message": "slow down"}, "reply": {"value": 1}},
    "timeout": {"fault": {"delay": 5}, "reply": {"value": 1}},
    "dropped connection": {"fault": {"drop": True}, "reply": {"value": 1}},
    "truncated json": {"fault": {"truncate": 25}, "reply": {"value": 1}},
    "wrong schema": {"content": '{"wrong": 1}'},
    "not json": {"content": "sure! here it is"},
    "empty choices": {"fault": {"empty_choices": True}, "reply": {"value": 1}},
    "refusal": {"fault": {"refusal": "I cannot help with that"}, "reply": {"value": 1}},
}
# A cell whose second statement needs the LM in every mode.
CELL = "kept = 1\nx = int('seven') + lookup(kept)\nafter = 2"
EMULATING = [m for m in MODES if m != "python"]


@pytest.mark.parametrize("mode", EMULATING)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_in_mode(lm, fault, mode):
    lm.rules({**FAULTS[fault], "match": []})  # every request gets the fault
    s = Session(Config(base_url=lm.base_url, model="m", cache="off", mode="python", timeout=1))
    s.emulator.client._client = s.emulator.client._client.with_options(max_retries=1)
    s.run("before = 'untouched'")
    snapshot = dict(s.user_names())
    s.set_mode(mode)
    result = s.run(CELL)
    assert isinstance(result.error, EmulationError), result.error
    assert result.error.line is not None
    names = s.user_names()
    # Nothing half-applied: at most the statements before the failing one ran.
    for key, value in snapshot.items():
        assert names[key] == value
    assert "x" not in names and "after" not in names
    s.set_mode("python")
    assert s.run("before").value == "untouched"  # the engine survives


@pytest.mark.parametrize("mode", EMULATING)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_in_mode_in_an_isolated_session(lm, fault, mode):
    from lmulator.isolation.session import IsolatedSession
    from lmulator.lm.client import OpenAIChatClient

    lm.rules({**FAULTS[fault], "match": []})
    client = OpenAIChatClient(lm.base_url, None, "m", timeout=1, max_retries=1)
    with IsolatedSession(Config(cache="off", mode="python"), client=client) as s:
        assert s.run("before = 'untouched'").error is None
        s.set_mode(mode)
        result = s.run(CELL)
        assert isinstance(result.error, EmulationError), result.error
        assert result.error.line is not None
        names = s.describe_names()
        assert names["before"][1] == "'untouched'"
        assert "x" not in names and "after" not in names
        s.set_mode("python")
        assert repr(s.run("before").value) == "'untouched'"  # the child survives
        assert s.restarts == 0
