"""The child process of an isolated session: runs cells under operating-system limits.

Started by :class:`lmulator.isolation.session.IsolatedSession` as
``python -I -m lmulator.isolation.worker READ_FD WRITE_FD`` with a scrubbed environment. It holds
no API key: every LM request goes to the parent over the channel, which answers with reply text.
Before each cell the process forks; the parent copy keeps the state from before the cell and
takes over if the cell's copy dies (killed for its time, out of memory, crashed).
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import sys
from typing import Any

from ..config import Config
from ..engine.errors_display import format_user_error
from ..engine.limits import address_space_in_use
from ..engine.session import RunResult, Session
from ..errors import EmulationError, LmulatorError, ReplyError
from ..lm.client import Completion
from ..lm.confidence import checked_confidence
from ..memory import MIB
from ..sandbox import SandboxSpec, confine
from ..wire import Channel, ChannelClosed

MAX_REPR_CHARS = 200_000


class ChannelClient:
    """A chat client that asks the parent process, which holds the real client and its key."""

    def __init__(self, channel: Channel, model: str) -> None:
        self.channel = channel
        self.model = model
        self._next_id = 0

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Send the request to the parent and wait for its reply text."""
        return self.complete_scored(messages, schema, name).text

    def complete_scored(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> Completion:
        """Send the request to the parent and wait for its reply text and confidence."""
        self._next_id += 1
        rid = self._next_id
        self.channel.send(
            {"op": "lm", "id": rid, "messages": messages, "schema": schema, "name": name}
        )
        while True:
            msg = self.channel.recv()
            if msg is not None and msg["op"] == "reply" and msg.get("id") == rid:
                break  # anything else is a stale answer to an abandoned request
        if "error" in msg:
            kind = ReplyError if msg.get("kind") == "reply" else EmulationError
            raise kind(str(msg["error"]))
        text = msg.get("text")
        if not isinstance(text, str):
            raise ReplyError("the parent sent no reply text")
        try:
            return Completion(text, checked_confidence(msg.get("confidence")))
        except ValueError as exc:
            raise ReplyError(f"the parent sent a malformed confidence: {exc}") from None

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Free text is not asked from inside an isolated cell (programs are written outside)."""
        raise EmulationError("an isolated cell cannot ask the LM for free text")


class ChannelStream(io.TextIOBase):
    """A text stream whose writes go to the parent as ``out`` messages."""

    def __init__(self, channel: Channel, name: str) -> None:
        self.channel = channel
        self.stream_name = name

    def writable(self) -> bool:
        """Always writable."""
        return True

    def write(self, text: str) -> int:
        """Send the text to the parent."""
        if text:
            self.channel.send({"op": "out", "name": self.stream_name, "text": str(text)})
        return len(text)


def apply_limits(limits: dict[str, Any]) -> None:
    """Set this process's rlimits: address space, CPU time, open files, no files written."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    files = int(limits.get("open_files") or 0)
    if files:
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    memory = int(limits.get("memory_mb") or 0)
    if memory:
        cap = address_space_in_use() + memory * MIB
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = int(limits.get("cpu_seconds") or 0)
    if cpu:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a program's own __repr__ may fail
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS] + "…"


#: How many masked errors a ``done`` message names (a summary names the first).
MAX_MASKED = 100


def encode_result(result: RunResult, session: Session, seq: Any = None) -> dict[str, Any]:
    """The ``done`` message for a cell's result."""
    error = None
    if result.error is not None:
        exc = result.error
        error = {
            "type": type(exc).__name__,
            "message": str(exc),
            "line": getattr(exc, "line", None) or getattr(exc, "lineno", None),
            "text": format_user_error(exc),
        }
    return {
        "op": "done",
        "seq": seq,
        "has_value": result.has_value,
        "value": _safe_repr(result.value) if result.has_value else None,
        "value_is_none": result.value is None,
        "exit_value": None if result.exit_value is None else _safe_repr(result.exit_value),
        "trace": [r.to_dict() for r in result.trace],
        "error": error,
        "lm_names": dict(session.lm_names),
        "masked": [[m.line, m.error, m.invented] for m in result.masked[:MAX_MASKED]],
        "value_origin": result.value_origin,
    }


def run_cell(session: Session, msg: dict[str, Any]) -> dict[str, Any]:
    """Run one cell and encode what it produced; never raises."""
    source = msg.get("source")
    name = msg.get("name") if isinstance(msg.get("name"), str) else None
    if not isinstance(source, str):
        result = RunResult("", name or "")
        result.error = TypeError("a cell's source must be text")
        return encode_result(result, session, msg.get("seq"))
    try:
        result = session.run(source, name=name)
    except BaseException as exc:  # KeyboardInterrupt, or anything the engine let through
        result = RunResult(source, name or "")
        result.error = exc
    return encode_result(result, session, msg.get("seq"))


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _wait_for_copy(pid: int, parent_fd: int | None) -> int | None:
    """Wait until the cell's copy ends (its wait status), or None if the parent went first."""
    try:
        copy_fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfds here: wait without watching the parent
        copy_fd = None
    try:
        while True:
            if copy_fd is not None and parent_fd is not None:
                ready, _, _ = select.select([copy_fd, parent_fd], [], [])
                if parent_fd in ready and copy_fd not in ready:
                    os.kill(pid, signal.SIGKILL)  # the parent is gone: so is the session
                    os.waitpid(pid, 0)
                    return None
            try:
                _, status = os.waitpid(pid, 0)
                return status
            except InterruptedError:
                continue
    finally:
        if copy_fd is not None:
            os.close(copy_fd)


def run_with_snapshot(
    session: Session, channel: Channel, msg: dict[str, Any], parent_fd: int | None = None
) -> None:
    """Run a cell in a forked copy; this copy keeps the state and takes over if that one dies."""
    try:
        pid = os.fork()
    except OSError:  # no process to spare: run the cell here, without a snapshot
        channel.send({"op": "started", "pid": os.getpid(), "seq": msg.get("seq")})
        channel.send(run_cell(session, msg))
        return
    if pid == 0:  # the copy that runs the cell
        keeper = os.getppid()
        channel.send({"op": "started", "pid": os.getpid(), "seq": msg.get("seq")})
        done = run_cell(session, msg)
        if os.getppid() == keeper:  # never a process this one was handed to
            os.kill(keeper, signal.SIGKILL)  # the state from before the cell is not needed
        channel.send(done)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = _wait_for_copy(pid, parent_fd)
    signal.signal(signal.SIGINT, previous)
    if status is None:
        os._exit(0)
    channel.discard_pending()
    os.write(channel.write_fd, b"\n")  # end any message the dead copy left half written
    channel.send({"op": "restored", "cause": _describe_status(status), "seq": msg.get("seq")})


def serve(
    session: Session, channel: Channel, snapshots: bool, parent_fd: int | None = None
) -> None:
    """Answer the parent's requests until it closes the channel."""
    while True:
        try:
            msg = channel.recv()
        except ChannelClosed:
            return
        except KeyboardInterrupt:
            continue
        if msg is None:
            continue
        op = msg["op"]
        if op == "run":
            if snapshots:
                run_with_snapshot(session, channel, msg, parent_fd)
            else:
                channel.send({"op": "started", "pid": os.getpid(), "seq": msg.get("seq")})
                channel.send(run_cell(session, msg))
        elif op == "config":
            fields = msg.get("config")
            try:
                if not isinstance(fields, dict) or not set(fields) <= set(CONFIG_FIELDS):
                    raise ValueError("only the engine's own settings can change")
                session.config = session.config.with_(**fields)
                session.emulator.prompt_style = session.config.prompt_style
                channel.send({"op": "config", "ok": True})
            except Exception as exc:  # ConfigError, TypeError: a bad value
                channel.send({"op": "config", "ok": False, "error": str(exc)})
        elif op == "undo":
            channel.send({"op": "undone", "names": session.undo()})
        elif op == "names":
            names = {
                k: [type(v).__name__, _safe_repr(v)[:200], session.lm_names.get(k, "")]
                for k, v in session.user_names().items()
            }
            channel.send({"op": "names", "names": names})
        elif op == "close":
            return
        # anything else (a stale LM reply) is ignored


def main(argv: list[str] | None = None) -> int:
    """Set limits, build the session the parent describes, and serve it."""
    args = sys.argv[1:] if argv is None else argv
    channel = Channel(int(args[0]), int(args[1]))
    watched = int(args[2]) if len(args) > 2 else os.getppid()  # the session's process
    try:  # readable once the parent has exited; every later copy inherits it
        parent_fd: int | None = os.pidfd_open(watched)
    except (AttributeError, OSError):
        parent_fd = None
    start = channel.recv()
    if start is None or start["op"] != "start":
        return 2
    apply_limits(start.get("limits") or {})
    confined = False
    if isinstance(start.get("sandbox"), str):  # before any cell, and before threads
        try:
            confined = confine(SandboxSpec.from_json(start["sandbox"])).confined
        except LmulatorError as exc:  # required but unavailable, or a bad description
            channel.send({"op": "ready", "pid": os.getpid(), "error": str(exc)})
            return 2
    fields = {k: v for k, v in (start.get("config") or {}).items() if k in CONFIG_FIELDS}
    config = Config(**fields, cache="off")
    session = Session(
        config,
        policy=str(start.get("policy") or "restricted"),
        client=ChannelClient(channel, str(start.get("model") or "default")),
    )
    sys.stdout = ChannelStream(channel, "stdout")
    sys.stderr = ChannelStream(channel, "stderr")
    channel.send({"op": "ready", "pid": os.getpid(), "confined": confined})
    serve(session, channel, bool(start.get("snapshots", True)), parent_fd)
    return 0


#: The configuration fields a parent passes on (never an endpoint or a key).
CONFIG_FIELDS = (
    "mode", "raise_errors", "trace_level", "prompt_style", "cell_timeout", "memory_mb",
    "partial", "emulate_statements", "lm", "min_confidence", "emulate_io",
)  # fmt: skip

if __name__ == "__main__":
    sys.exit(main())
