"""LM faults reach the program as one clear error naming the line."""

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import EmulationError


@pytest.mark.parametrize(
    "fault, words",
    [
        ({"status": 500, "message": "boom"}, "HTTP 500: boom"),
        ({"empty_choices": True}, "no choices"),
        ({"refusal": "I will not"}, "refused: I will not"),
        ({"truncate": 20}, "cannot reach the LM at http://127.0.0.1:"),  # a cut-off reply
    ],
)
def test_faults_end_the_cell_cleanly(lm, session, fault, words):
    lm.rules({"match": ["Emulate: oracle()"], "reply": {"value": 1}, "fault": fault})
    s = session()
    s.run("kept = 1")
    result = s.run("x = oracle()")
    assert isinstance(result.error, EmulationError)
    assert result.error.line == 1
    assert words in str(result.error)
    assert s.namespace["kept"] == 1 and "x" not in s.namespace
    assert s.run("kept + 1").value == 2


def test_unreachable_endpoint_is_one_clear_error():
    s = Session(Config(base_url="http://127.0.0.1:9/v1", model="m", timeout=2, cache="off"))
    s.emulator.client._client = s.emulator.client._client.with_options(max_retries=0)
    result = s.run("x = oracle()")
    assert isinstance(result.error, EmulationError)
    assert str(result.error) == "line 1: cannot reach the LM at http://127.0.0.1:9/v1"


def test_api_key_is_not_in_the_config_repr():
    cfg = Config(base_url="http://x/v1", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(cfg)
