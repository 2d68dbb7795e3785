"""LM faults reach the program as one clear error naming the line; a request ends at its
timeout however slowly the endpoint answers."""

import threading
import time
from collections.abc import Callable

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import EmulationError

MESSAGES = [{"role": "user", "content": "hello"}]


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


def raised_within(seconds: float, call: Callable[[], object]) -> EmulationError:
    """The EmulationError ``call`` raises, failing the test if it takes ``seconds`` or more
    (in a thread: a hang fails at the deadline)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"no answer within {seconds:g} s"
    assert isinstance(outcome[0], EmulationError), outcome[0]
    return outcome[0]


def test_a_trickled_reply_is_cut_off_at_the_timeout_and_the_client_asks_afresh():
    from lmulator.lm.client import OpenAIChatClient

    from .security.hostile_http import Endpoint

    hostile = Endpoint("trickle")  # a byte a second: no single read ever times out
    try:
        client = OpenAIChatClient(hostile.base_url, None, "m", timeout=2, max_retries=2)
        error = raised_within(2 + 3, lambda: client.complete(MESSAGES, {}, "value"))
        assert str(error) == f"the LM at {hostile.base_url} did not answer within 2 s"
        hostile.mode = "record"
        assert client.complete(MESSAGES, {}, "value") == '{"value": 1}'  # a new connection
        assert len(hostile.seen()) == 2  # no retry after the cut-off
    finally:
        hostile.close()


def test_a_trickled_reply_is_cut_off_at_the_context_deadline():
    from lmulator.lm.client import OpenAIChatClient, requests_end_by

    from .security.hostile_http import Endpoint

    hostile = Endpoint("trickle")
    try:
        client = OpenAIChatClient(hostile.base_url, None, "m", timeout=60)

        def ask() -> str:
            with requests_end_by(time.monotonic() + 1):
                return client.complete_text(MESSAGES, 5)

        assert "did not answer in the time left" in str(raised_within(1 + 3, ask))
        with requests_end_by(time.monotonic() - 1), pytest.raises(EmulationError) as caught:
            client.complete_text(MESSAGES, 5)
        assert str(caught.value) == "no time left for an LM request"
    finally:
        hostile.close()
