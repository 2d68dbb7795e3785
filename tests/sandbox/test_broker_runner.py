"""A hostile runner at the other end of a real pipe: it floods the broker with requests and
never reads, or says it is idle and keeps computing, or asks for no limit. The broker stays
responsive, and ends a runner that outruns the user's limit whatever it says."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lmulator.config import Config
from lmulator.sandbox import SandboxSpec
from lmulator.sandbox.broker import MAX_IN_FLIGHT, MAX_QUEUED, Broker
from lmulator.sandbox.dispatch import BUSY
from lmulator.sandbox.watchdog import CpuWatch, tree_cpu_seconds
from lmulator.wire import Channel

DEADLINE_S = 30.0
MESSAGES = [{"role": "user", "content": "hello"}]


class GatedClient:
    """A chat client whose answers wait until the test opens the gate (or 30 s pass)."""

    model = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Answer once the gate is open."""
        self.gate.wait(DEADLINE_S)
        return '{"value": 1}'

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Answer once the gate is open."""
        self.gate.wait(DEADLINE_S)
        return "text"


@pytest.fixture
def piped() -> Iterator[tuple[Broker, Channel, GatedClient]]:
    """A broker serving one end of two real pipes; the test is the runner at the other."""
    client = GatedClient()
    broker = Broker(Config(base_url="http://127.0.0.1:9/v1", cache="off"), SandboxSpec(),
                    client_factory=lambda _config: client, env={})  # fmt: skip
    to_broker_r, to_broker_w = os.pipe()
    to_runner_r, to_runner_w = os.pipe()
    broker.serve_channel(Channel(to_broker_r, to_runner_w))
    yield broker, Channel(to_runner_r, to_broker_w), client
    client.gate.set()
    for fd in (to_broker_w, to_runner_r):  # the broker's threads see the runner go
        os.close(fd)


def request(rid: object) -> dict[str, Any]:
    return {"op": "text", "id": rid, "messages": MESSAGES, "max_tokens": 5}


def answer_to(runner: Channel, rid: object, replies: dict[object, dict[str, Any]]) -> dict:
    """Read replies (keeping them) until the one to ``rid`` comes; fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while rid not in replies:
        left = deadline - time.monotonic()
        assert left > 0, f"no reply to {rid!r} within {DEADLINE_S:g} s"
        msg = runner.recv(timeout=left)
        if msg is not None:
            replies[msg.get("id")] = msg
    return replies[rid]


def test_a_runner_that_floods_and_never_reads_gets_busy_errors_not_a_deadlock(piped):
    broker, runner, client = piped
    flood = 3000  # far more replies than the pipe and the outbox hold

    def write_all() -> None:
        for i in range(flood):
            runner.send(request(i))

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    writer.join(DEADLINE_S)
    assert not writer.is_alive(), "the broker stopped reading its runner"
    dispatcher, busy_errors = broker.dispatcher, 0
    deadline = time.monotonic() + DEADLINE_S
    while dispatcher.taken + dispatcher.busy < flood:  # the reader is through the flood
        assert time.monotonic() < deadline, "the broker stopped reading its runner"
        msg = runner.recv(timeout=0.05)
        busy_errors += msg is not None and msg.get("error") == BUSY
    assert dispatcher.taken <= MAX_IN_FLIGHT + MAX_QUEUED
    assert dispatcher.dropped > 0  # busy errors beyond the outbox were dropped...
    client.gate.set()
    answered: set[object] = set()
    deadline = time.monotonic() + DEADLINE_S
    while len(answered) < dispatcher.taken:  # ...but every request taken gets its answer
        assert time.monotonic() < deadline, "an answer to a request taken was lost"
        msg = runner.recv(timeout=1.0)
        if msg is not None and msg.get("text") == "text":
            answered.add(msg["id"])
        busy_errors += msg is not None and msg.get("error") == BUSY
    assert busy_errors > 0  # the flood was told
    runner.send(request("late"))  # and a request after the flood is answered
    late = answer_to(runner, "late", {})
    assert (late["op"], late["id"], late["text"], late.get("error")) == (
        "reply",
        "late",
        "text",
        None,
    )


def test_the_reader_keeps_serving_while_answers_wait(piped):
    broker, runner, client = piped
    for i in range(MAX_IN_FLIGHT):  # every answering thread waits at the gate
        runner.send(request(i))
    runner.send({"op": "cell", "limit": 0, "at": time.monotonic()})
    runner.send({"op": "idle"})
    runner.send({"op": "exec", "id": "bad"})  # queued behind the waiting ones
    deadline = time.monotonic() + DEADLINE_S
    while broker.idle_since is None:  # the reader went on to the control messages
        assert time.monotonic() < deadline, "the reader stalled behind the answers"
        runner.recv(timeout=0.05)
    client.gate.set()
    replies: dict[object, dict[str, Any]] = {}
    assert answer_to(runner, "bad", replies)["error"] == "malformed LM request"
    assert all(answer_to(runner, i, replies)["text"] == "text" for i in range(MAX_IN_FLIGHT))


RUNNER = textwrap.dedent(
    """
    import json, os, select, sys, time
    read_fd, write_fd = (int(x) for x in os.environ["LMULATOR_BROKER_FDS"].split(","))
    def send(msg):
        os.write(write_fd, (json.dumps(msg) + "\\n").encode())
    what = sys.argv[1]
    if what == "forged-idle":  # a cell says it is over, then computes in C-like Python
        send({"op": "cell", "limit": 0, "at": time.monotonic()})
        send({"op": "idle"})
        while True:
            pass
    if what == "no-limit":  # asks for no limit, then computes
        send({"op": "cell", "limit": 0, "at": time.monotonic()})
        while True:
            pass
    if what == "restarts":  # keeps saying a new cell starts, and computes
        while True:
            send({"op": "cell", "limit": 0, "at": time.monotonic()})
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                pass
    if what == "truly-idle":  # idle, waiting for work that never comes, then leaves
        send({"op": "idle"})
        select.select([read_fd], [], [], float(sys.argv[2]))
    """
)


def run_runner(tmp_path, what: str, *args: str, limit: float = 1.0, grace: float = 1.0) -> Broker:
    """Start a hostile runner under a broker whose user set ``limit``; wait for it to end."""
    spec = SandboxSpec(workspace=str(tmp_path))
    broker = Broker(Config(cell_timeout=limit, cache="off"), spec, env={})
    broker.start([sys.executable, "-c", RUNNER, what, *args], cwd=str(tmp_path))
    outcome: list[int] = []
    waiter = threading.Thread(target=lambda: outcome.append(broker.wait(grace_s=grace)))
    waiter.start()
    waiter.join(DEADLINE_S)
    if waiter.is_alive():
        assert broker.proc is not None
        broker.proc.kill()
        waiter.join(DEADLINE_S)
        pytest.fail(f"the {what} runner was not ended within {DEADLINE_S:g} s")
    broker.exit_code = outcome[0]  # type: ignore[attr-defined]
    return broker


def test_a_forged_idle_does_not_switch_the_watchdog_off(tmp_path):
    started = time.monotonic()
    broker = run_runner(tmp_path, "forged-idle")
    assert "kept computing for 2 s while it was idle (the limit is 1 s)" in broker.killed_because
    assert time.monotonic() - started < 15


def test_a_runner_asking_for_no_limit_keeps_the_users(tmp_path):
    broker = run_runner(tmp_path, "no-limit")
    assert broker.killed_because == "ran past its 1 s limit"


def test_a_runner_that_keeps_restarting_its_cell_keeps_its_first_start(tmp_path):
    broker = run_runner(tmp_path, "restarts")
    assert broker.killed_because == "ran past its 1 s limit"


def test_an_idle_runner_is_left_alone(tmp_path):
    broker = run_runner(tmp_path, "truly-idle", "4")
    assert broker.killed_because == "" and broker.exit_code == 0  # type: ignore[attr-defined]


TREE = textwrap.dedent(
    """
    import subprocess, sys
    spin = "import time\\nend = time.process_time() + float(sys.argv[1])\\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", "import sys\\n" + spin, "1"])  # reaped: folded in
    print("reaped", flush=True)
    subprocess.run([sys.executable, "-c", "import sys\\n" + spin, "60"])  # alive: counted
    """
)


def test_cpu_time_counts_the_runners_descendants_live_and_reaped():
    tree = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        assert tree.stdout is not None and tree.stdout.readline() == "reaped\n"
        used = tree_cpu_seconds(tree.pid)
        assert used is not None and used >= 0.9  # the first grandchild's second, reaped
        deadline = time.monotonic() + DEADLINE_S
        while (tree_cpu_seconds(tree.pid) or 0) < used + 1.0:  # the live one, while it runs
            assert time.monotonic() < deadline, "a live descendant's CPU time was not counted"
            with pytest.raises(subprocess.TimeoutExpired):  # it must still be running
                tree.wait(timeout=0.1)
    finally:
        os.killpg(tree.pid, 9)
        tree.wait(timeout=DEADLINE_S)
    assert tree_cpu_seconds(tree.pid) is None  # gone


def test_a_cpu_watch_needs_the_whole_window_busy_and_quiet():
    used = {"cpu": 0.0}
    watch = CpuWatch(1, span=2.0, read=lambda _pid: used["cpu"])
    for t in range(0, 5):
        used["cpu"] = 0.9 * t  # 90% of a core
        watch.sample(float(t))
    assert watch.computing(since=0.0)
    assert not watch.computing(since=2.5)  # the window began before the quiet claim
    idle = CpuWatch(1, span=2.0, read=lambda _pid: 0.01)
    for t in range(0, 5):
        idle.sample(float(t))
    assert not idle.computing(since=0.0)
