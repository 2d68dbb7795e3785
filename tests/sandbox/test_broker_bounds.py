"""Nothing leaves the runner waiting for ever: the broker never sends a line longer than the
channel carries (a reply longer than the runner takes is an error before it is sent), the runner
is told when a line for it was dropped, and a request the LM does not answer in time gets an
error from the broker, whatever its answering thread is stuck in."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lmulator import wire
from lmulator.config import Config
from lmulator.errors import EmulationError, ReplyError
from lmulator.lm.reply import MAX_REPLY_CHARS
from lmulator.sandbox import SandboxSpec
from lmulator.sandbox import broker as broker_module
from lmulator.sandbox.broker import Broker
from lmulator.sandbox.dispatch import late_error
from lmulator.sandbox.runner import BrokerClient
from lmulator.wire import Channel

DEADLINE_S = 20.0
URL = "http://127.0.0.1:9/v1"
MESSAGES = [{"role": "user", "content": "hello"}]
HUGE = "A" * (33 * 1024 * 1024)  # longer than a line on the channel may be
CONFIG = Config(base_url=URL, model="m", cache="off", timeout=1)


class ScriptedClient:
    """A chat client whose every answer is ``text``, given once ``gate`` opens (or 30 s pass)."""

    model = "m"

    def __init__(self, text: str) -> None:
        self.text = text
        self.gate = threading.Event()
        self.gate.set()
        self.asked = 0
        self.broker: Broker | None = None

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Answer with the text (``{n}``: the request's number), once the gate is open."""
        self.asked += 1
        n = self.asked
        self.gate.wait(30)
        return self.text.replace("{n}", str(n))

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Answer with the text, once the gate is open."""
        return self.complete(messages, {}, "")


def pipes() -> tuple[Channel, Channel, Callable[[threading.Thread | None], None]]:
    """The broker's and the runner's ends of two real pipes (both strict), and their closer:
    the runner's end first, then, once the broker's thread (if any) has seen it go, the
    broker's."""
    to_broker_r, to_broker_w = os.pipe()
    to_runner_r, to_runner_w = os.pipe()

    def close(broker_thread: threading.Thread | None) -> None:
        for fd in (to_broker_w, to_runner_r):
            os.close(fd)
        if broker_thread is not None:
            broker_thread.join(DEADLINE_S)
        for fd in (to_broker_r, to_runner_w):
            os.close(fd)

    return (Channel(to_broker_r, to_runner_w, strict=True),
            Channel(to_runner_r, to_broker_w, strict=True), close)  # fmt: skip


@pytest.fixture
def served() -> Iterator[Callable[[ScriptedClient], BrokerClient]]:
    """Serve a broker whose LM is the given client; give the runner's client for it."""
    closers: list[Callable[[], None]] = []

    def serve(client: ScriptedClient) -> BrokerClient:
        broker_end, runner_end, close = pipes()
        broker = Broker(CONFIG, SandboxSpec(), client_factory=lambda _c: client, env={})
        thread = broker.serve_channel(broker_end)
        client.broker = broker
        closers.append(client.gate.set)
        closers.append(lambda: close(thread))
        return BrokerClient(runner_end, CONFIG)

    yield serve
    for close in closers:
        close()


def client_dispatcher(client: ScriptedClient) -> Any:
    """The dispatcher of the broker that serves ``client``."""
    assert client.broker is not None
    return client.broker.dispatcher


def timed(ask: Callable[[], Any]) -> tuple[BaseException | None, float]:
    """What ``ask`` raised (None if nothing) and how long it took, run in a thread so that a
    hang fails the test at the deadline instead of stalling it."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            ask()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert outcome, f"no answer within {DEADLINE_S:g} s"
    return outcome[0], time.monotonic() - started


def test_a_reply_longer_than_the_channel_carries_is_an_error_at_the_broker(served):
    client = served(ScriptedClient(f'{{"value": "{HUGE}"}}'))
    error, _ = timed(lambda: client.complete(MESSAGES, {}, "value"))
    assert isinstance(error, ReplyError)
    assert str(error) == f"the reply is longer than {MAX_REPLY_CHARS} characters"
    error, _ = timed(lambda: client.complete_text(MESSAGES, 5))  # free text: the same cap
    assert isinstance(error, EmulationError) and "longer than" in str(error)


def test_a_reply_the_runner_takes_still_passes(served):
    client = served(ScriptedClient("A" * MAX_REPLY_CHARS))
    assert client.complete_text(MESSAGES, 5) == "A" * MAX_REPLY_CHARS


def test_a_reply_too_long_for_the_channel_becomes_an_error(served, monkeypatch):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)  # shorter than the reply cap
    client = served(ScriptedClient("A" * 5000))
    error, _ = timed(lambda: client.complete_text(MESSAGES, 5))
    assert isinstance(error, EmulationError)
    assert "longer than the channel to the runner carries" in str(error)


def test_the_runner_is_told_of_a_reply_line_it_dropped(monkeypatch):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    broker_end, runner_end, close = pipes()
    sent: list[str] = []

    def hostile_broker() -> None:  # answers the request with a line longer than the channel's
        request = broker_end.recv(timeout=DEADLINE_S)
        assert request is not None
        stale = b'{"op":"reply","id":%d,"text":"%s"}\n' % (request["id"] - 1, b"A" * 5000)
        own = b'{"op":"reply","id":%d,"text":"%s"}\n' % (request["id"], b"A" * 5000)
        sent.append("both")  # before: the runner may be done as soon as they are written
        os.write(broker_end.write_fd, stale + own)  # the stale one answers an abandoned request

    threading.Thread(target=hostile_broker, daemon=True).start()
    try:
        client = BrokerClient(runner_end, CONFIG)
        error, _ = timed(lambda: client.complete_text(MESSAGES, 5))
    finally:
        close(None)
    assert sent == ["both"]
    assert isinstance(error, EmulationError)
    assert str(error) == "the broker's reply was longer than the channel carries"


def test_a_request_too_long_to_send_is_an_error_not_a_wait(monkeypatch):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    _, runner_end, close = pipes()
    try:
        client = BrokerClient(runner_end, CONFIG)
        error, _ = timed(lambda: client.complete_text([{"role": "user", "content": "x" * 2000}]))
    finally:
        close(None)
    assert isinstance(error, EmulationError) and "too long to send" in str(error)


def test_a_stuck_answer_gets_an_error_in_time_and_its_late_answer_is_dropped(served, monkeypatch):
    monkeypatch.setattr(broker_module, "ANSWER_GRACE_S", 0.5)
    lm = ScriptedClient("answer {n}")
    lm.gate.clear()  # the answering thread is stuck
    client = served(lm)
    error, took = timed(lambda: client.complete_text(MESSAGES, 5))
    assert isinstance(error, EmulationError)
    assert str(error) == late_error(CONFIG.timeout + 0.5)
    assert took < CONFIG.timeout + 0.5 + 5  # the writer looks twice a second
    dispatcher = client_dispatcher(lm)
    lm.gate.set()  # the stuck answer comes now, too late: it is dropped, not sent
    deadline = time.monotonic() + DEADLINE_S
    while dispatcher.discarded < 1:
        assert time.monotonic() < deadline, "the late answer was not dropped"
        time.sleep(0.05)
    assert client.complete_text(MESSAGES, 5) == "answer 2"
    assert (dispatcher.late, dispatcher.discarded) == (1, 1)
