"""Isolated sessions: cells run in a child process under operating-system limits.

The child (:mod:`lmulator.isolation.worker`) holds the namespace and runs the policy and the
executor; it has a scrubbed environment, a temporary working directory, its own process group,
an address-space cap, no core files, no file writes and few open files. It holds no API key: its
LM requests come to this process, which answers them with its own client. Messages are JSON lines
(never pickles) and are checked here before use.

Before each cell the child forks: one copy runs the cell, the other keeps the state from before
it. A cell that ignores an interrupt or its time limit (a C-level loop, ``10**10**10``) is killed
after a grace period, and the session goes on from the kept copy.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..engine.session import RunResult
from ..errors import CellTimeout, ConfigError, EmulationError, ReplyError
from ..lm.client import ChatClient, complete_scored
from ..lm.factory import make_client
from ..sandbox import SandboxSpec, sandbox_from_env
from ..sandbox.zygote import Zygote
from ..wire import Channel, ChannelClosed
from .child import close_fds, kill_group, signal_in_group, spawn_child
from .messages import (
    ChildError,
    ChildLimits,
    ChildValue,
    IsolationError,
    decode_error,
    decode_masked,
    decode_origin,
    decode_record,
    valid_lm_request,
    wait_for,
)
from .worker import CONFIG_FIELDS
from .worker import main as worker_main

__all__ = ["ChildError", "ChildLimits", "ChildValue", "IsolatedSession", "IsolationError"]

START_TIMEOUT_S = 30.0

#: Starts a worker without exec: ``(workdir, env) -> (process, read_fd, write_fd)``; set inside
#: the sandbox (:func:`fork_worker_zygote`), where no program may be executed.
worker_spawner: Callable[[str, dict[str, str]], tuple[Any, int, int]] | None = None


def fork_worker_zygote() -> None:
    """Inside the sandbox, before any thread starts: fork the zygote that forks isolated
    sessions' workers (:mod:`lmulator.sandbox.zygote`), and start every worker through it."""
    global worker_spawner
    worker_spawner = Zygote(worker_main).spawn


class IsolatedSession:
    """A session whose namespace and cells live in a child process under rlimits."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        policy: str = "restricted",
        client: ChatClient | None = None,
        limits: ChildLimits | None = None,
        sandbox: SandboxSpec | None = None,
    ) -> None:
        self.config = (config or Config()).validate()
        self.sandbox = (sandbox_from_env() if sandbox is None else sandbox).validate()
        self.confined = False  # whether the child was confined by the operating system
        if self.config.record != "off":
            raise ConfigError("record and replay are not available in an isolated session")
        if policy not in ("restricted", "partial", "trusted"):
            raise ConfigError(
                f"unknown policy {policy!r} (choose from restricted, partial, trusted)"
            )
        self.policy = policy
        self.limits = limits or ChildLimits(memory_mb=self.config.memory_mb)
        self._client = client
        self.history: list[RunResult] = []
        self.lm_names: dict[str, str] = {}
        self.restarts = 0
        self.dropped_messages = 0
        self._counter = 0
        self._worker: int | None = None
        self._start()

    # -- the child process -------------------------------------------------------------

    @property
    def client(self) -> ChatClient:
        """The chat client that answers the child's LM requests (made on first use)."""
        if self._client is None:
            self._client = make_client(self.config)
        return self._client

    def _start(self) -> None:
        self._workdir = tempfile.mkdtemp(prefix="lmulator-isolated-")
        try:
            self._proc, from_child_r, to_child_w = spawn_child(self._workdir, worker_spawner)
        except OSError as exc:
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise IsolationError(f"the isolated process did not start: {exc}") from None
        self._pgid = self._proc.pid
        self._finalizer = weakref.finalize(self, kill_group, self._pgid, self._proc, self._workdir)
        self._channel = Channel(from_child_r, to_child_w)
        weakref.finalize(self._channel, close_fds, from_child_r, to_child_w)
        config: dict[str, Any] = {k: getattr(self.config, k) for k in CONFIG_FIELDS}
        config["prompt_style"] = self.config.resolved_prompt_style()
        self._channel.send(
            {
                "op": "start",
                "config": config,
                "policy": self.policy,
                "model": self.config.model,
                "limits": self.limits.to_message(),
                "snapshots": self.limits.snapshots,
                # the child's box: its own working directory is its workspace
                "sandbox": self.sandbox.with_(workspace=self._workdir, tmpdir=self._workdir,
                                              write=(), read=self.sandbox.read).to_json(),
            }
        )  # fmt: skip
        msg = self._wait_for(("ready",), START_TIMEOUT_S)
        if msg is None:
            self.close()
            raise IsolationError("the isolated process did not start")
        if isinstance(msg.get("error"), str):
            self.close()
            raise IsolationError(f"the isolated process did not start: {msg['error'][:300]}")
        self.confined = msg.get("confined") is True

    def _wait_for(
        self, ops: tuple[str, ...], timeout: float, seq: int | None = None
    ) -> dict[str, Any] | None:
        return wait_for(self._channel, ops, timeout, seq)

    def _restart(self) -> None:
        """Start a fresh child (the old state is gone)."""
        self._finalizer()
        self.restarts += 1
        self.lm_names = {}
        self._start()

    def close(self) -> None:
        """Stop the child and everything it started."""
        try:
            self._channel.send({"op": "close"})
        except ChannelClosed:
            pass
        self._finalizer()

    def __enter__(self) -> IsolatedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _signal(self, pid: int | None, sig: int) -> bool:
        return signal_in_group(self._pgid, pid, sig)

    # -- running cells -------------------------------------------------------------------

    def run(self, source: str, name: str | None = None) -> RunResult:
        """Run one cell in the child; its namespace keeps what the cell binds."""
        self._worker = None
        try:
            return self._run(source, name)
        except BaseException:
            # Stopped from outside (an enclosing time limit): the cell's copy must not run on.
            self._kill_cell(RunResult(source, name or ""), self._worker, CellTimeout("stopped"))
            raise

    def _run(self, source: str, name: str | None) -> RunResult:
        self._counter += 1
        name = name or f"<cell-{self._counter}>"
        result = RunResult(source=source, name=name)
        self.history.append(result)
        try:
            self._channel.send({"op": "run", "source": source, "name": name, "seq": self._counter})
        except ChannelClosed:
            self._restart()
            result.error = IsolationError("the isolated process was gone; a fresh one started")
            return result
        worker: int | None = None
        limit = self.config.cell_timeout
        deadline = time.monotonic() + limit + self.limits.grace_s if limit > 0 else None
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is not None and now - interrupted_at > self.limits.grace_s:
                return self._kill_cell(result, worker, KeyboardInterrupt(
                    "the cell did not stop on interrupt and was killed"))  # fmt: skip
            if deadline is not None and now > deadline:
                return self._kill_cell(result, worker, CellTimeout(
                    f"the cell ran longer than its {limit:g} s limit and was killed"))  # fmt: skip
            try:
                msg = self._channel.recv(timeout=0.25)
            except KeyboardInterrupt:
                if interrupted_at is None:
                    interrupted_at = time.monotonic()
                    self._signal(worker, signal.SIGINT)
                continue
            except ChannelClosed:
                self._restart()
                result.error = IsolationError(
                    "the isolated process died; its state is lost and a fresh one started"
                )
                return result
            finally:
                self.dropped_messages = self._channel.dropped
            if msg is None:
                continue
            op = msg["op"]
            if op in ("started", "done", "restored") and msg.get("seq") != self._counter:
                continue  # not about this cell
            if op == "started" and isinstance(msg.get("pid"), int):
                worker = self._worker = msg["pid"]
            elif op == "out":
                try:
                    self._write_out(msg)
                except KeyboardInterrupt:  # an interrupt while showing the cell's output
                    if interrupted_at is None:
                        interrupted_at = time.monotonic()
                        self._signal(worker, signal.SIGINT)
            elif op == "lm":
                started = time.monotonic()
                try:
                    self._answer_lm(msg)
                except KeyboardInterrupt:
                    interrupted_at = time.monotonic()
                    self._signal(worker, signal.SIGINT)
                if deadline is not None:
                    deadline += time.monotonic() - started  # the LM's time is the parent's
            elif op == "done":
                self._finish(result, msg)
                self._proc.poll()  # reap the first copy once a later one has taken over
                return result
            elif op == "restored":
                cause = str(msg.get("cause") or "ended")[:200]
                result.error = IsolationError(
                    f"the cell's process {cause}; the state is as it was before the cell"
                )
                return result

    def _kill_cell(self, result: RunResult, worker: int | None, error: BaseException) -> RunResult:
        """Kill the process running the cell and go on from the state kept before it."""
        if self.limits.snapshots and self._signal(worker, signal.SIGKILL):
            if self._wait_for(("restored",), 10.0, seq=self._counter) is not None:
                result.error = error
                error.args = (f"{error.args[0]}; the state is as it was before the cell",)
                return result
        self._restart()
        error.args = (f"{error.args[0]}; the state was lost and a fresh process started",)
        result.error = error
        return result

    def _write_out(self, msg: dict[str, Any]) -> None:
        text = msg.get("text")
        if not isinstance(text, str):
            return
        stream = sys.stderr if msg.get("name") == "stderr" else sys.stdout
        stream.write(text)
        stream.flush()

    def _answer_lm(self, msg: dict[str, Any]) -> None:
        """Answer a child's LM request with this process's client."""
        reply: dict[str, Any] = {"op": "reply", "id": msg.get("id")}
        if not valid_lm_request(msg):
            reply.update(error="malformed LM request", kind="emulation")
        else:
            try:
                completion = complete_scored(
                    self.client, msg["messages"], msg["schema"], msg["name"]
                )
                reply.update(text=completion.text, confidence=completion.confidence)
            except EmulationError as exc:
                reply.update(error=exc.detail, kind="emulation")
            except ReplyError as exc:
                reply.update(error=str(exc), kind="reply")
        try:
            self._channel.send(reply)
        except ChannelClosed:
            pass  # the child is gone; the next read says so and the cell ends there

    def _finish(self, result: RunResult, msg: dict[str, Any]) -> None:
        """Fill in a cell's result from the child's ``done`` message."""
        if msg.get("has_value") is True and isinstance(msg.get("value"), str):
            # None stays None, as a cell's value means "nothing to show" to every caller
            result.value = None if msg.get("value_is_none") is True else ChildValue(msg["value"])
            result.has_value = True
        if isinstance(msg.get("exit_value"), str):
            result.exit_value = ChildValue(msg["exit_value"])
        trace = msg.get("trace")
        if isinstance(trace, list):
            result.trace = [r for r in map(decode_record, trace) if r is not None]
        result.error = decode_error(msg.get("error"))
        result.masked = decode_masked(msg.get("masked"))
        result.value_origin = decode_origin(msg.get("value_origin")) if result.has_value else None
        names = msg.get("lm_names")
        if isinstance(names, dict):
            self.lm_names = {str(k): str(v) for k, v in names.items()}

    # -- state ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The current mode."""
        return self.config.mode

    def set_mode(self, mode: str) -> None:
        """Switch the child's mode; raise ConfigError for an unknown one."""
        self.set_config(self.config.with_(mode=mode))

    def set_config(self, config: Config) -> None:
        """Use a new configuration: the engine's settings go to the child, the LM's stay here."""
        config = config.validate()
        if config.record != "off":
            raise ConfigError("record and replay are not available in an isolated session")
        fields = {k: getattr(config, k) for k in CONFIG_FIELDS}
        fields["prompt_style"] = config.resolved_prompt_style()
        self._channel.send({"op": "config", "config": fields})
        msg = self._wait_for(("config",), 10.0)
        if msg is None or msg.get("ok") is not True:
            detail = str(msg.get("error"))[:300] if msg else "no answer"
            raise IsolationError(f"the isolated process did not take the settings: {detail}")
        lm_fields = ("base_url", "api_key", "model", "temperature", "schema_style", "timeout",
                     "cache")  # fmt: skip
        if any(getattr(self.config, f) != getattr(config, f) for f in lm_fields):
            self._client = None  # made anew from the new settings on the next request
        self.config = config

    def undo(self) -> list[str]:
        """Put back what the last cell that emulated something bound (in the child); return
        the names put back."""
        self._channel.send({"op": "undo"})
        msg = self._wait_for(("undone",), 10.0)
        names = msg.get("names") if msg else None
        return [str(n) for n in names] if isinstance(names, list) else []

    def describe_names(self) -> dict[str, tuple[str, str, str]]:
        """Each variable's type name, short repr and LM origin, as the child reports them."""
        self._channel.send({"op": "names"})
        msg = self._wait_for(("names",), 10.0)
        names = msg.get("names") if msg else None
        if not isinstance(names, dict):
            return {}
        out = {}
        for k, v in names.items():
            if isinstance(v, list) and len(v) == 3:
                out[str(k)] = (str(v[0]), str(v[1]), str(v[2]))
        return out
