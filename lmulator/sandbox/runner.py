"""The runner's side of the broker: enter the sandbox, and ask the broker for every LM reply.

A process started by :class:`lmulator.sandbox.broker.Broker` calls :func:`enter_sandbox` first
(before it starts threads): it dies with the broker, confines itself as the broker described, and
from then on every client :func:`lmulator.lm.factory.make_client` makes is a :class:`BrokerClient`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..errors import ConfigError, EmulationError, ReplyError
from ..lm.client import Completion
from ..lm.confidence import checked_confidence
from ..lm.factory import route_clients_through
from ..lm.reply import MAX_REPLY_CHARS
from ..usage import charge, check_budget, reported_usage
from ..wire import TOO_LONG, Channel, ChannelClosed, MessageTooLong
from . import landlock
from .broker import FDS_ENV, LM_ENV, SPEC_ENV
from .confine import Confinement, SandboxError, confine, restrict_syscalls
from .importpath import BOX_PATH_ENV, CWD_ENV, READ_ONLY_ENV, restore_box_path
from .readonly import make_read_only
from .spec import SandboxSpec

PR_SET_PDEATHSIG = 1
LM_SETTINGS = ("base_url", "model", "temperature", "schema_style", "timeout", "cache")


class BrokerClient:
    """A chat client that asks the broker, which holds the real client and its key."""

    def __init__(self, channel: Channel, config: Config) -> None:
        self.channel = channel
        self.model = config.model
        self.settings = {k: getattr(config, k) for k in LM_SETTINGS}
        self._next_id = 0

    def __repr__(self) -> str:
        return f"BrokerClient(model={self.model!r})"

    def _ask(
        self, message: dict[str, Any], on_text: Callable[[str], None] | None = None
    ) -> Completion:
        check_budget()
        start = time.monotonic()
        with _send_lock:
            self._next_id += 1
            rid = message["id"] = self._next_id
            message["settings"] = self.settings
            try:
                self.channel.send(message)
                msg = self._reply(rid, on_text)
            except MessageTooLong as exc:
                raise EmulationError(f"the LM request is too long to send: {exc}") from None
            except ChannelClosed:
                raise EmulationError("the broker that holds the LM client is gone") from None
            except KeyboardInterrupt:
                if on_text is not None:  # a stream: the broker stops it at its next text
                    with contextlib.suppress(ChannelClosed, MessageTooLong, OSError):
                        self.channel.send({"op": "cancel", "id": rid})
                raise
        usage = reported_usage(msg.get("usage"))
        calls, prompt, completion = usage if usage is not None else (1, 0, 0)
        charge(calls, prompt, completion, time.monotonic() - start)
        if "error" in msg:
            kind = ReplyError if msg.get("kind") == "reply" else EmulationError
            raise kind(str(msg["error"])[:2000])
        text = msg.get("text")
        if not isinstance(text, str):
            raise ReplyError("the broker sent no reply text")
        try:
            return Completion(text, checked_confidence(msg.get("confidence")))
        except ValueError as exc:
            raise ReplyError(f"the broker sent a malformed confidence: {exc}") from None

    def _reply(self, rid: int, on_text: Callable[[str], None] | None) -> dict[str, Any]:
        """The broker's reply to request ``rid``; its streamed text so far goes to
        ``on_text`` on the way."""
        while True:
            msg = self.channel.recv()
            if msg is None or msg.get("id") not in (rid, None):
                continue  # it answers a request abandoned on interrupt
            if msg["op"] == TOO_LONG:  # a reply this channel dropped: never wait for it
                raise EmulationError("the broker's reply was longer than the channel carries")
            if msg["op"] == "chunk" and msg.get("id") == rid:
                text = msg.get("text")
                if on_text is not None and isinstance(text, str) and len(text) <= MAX_REPLY_CHARS:
                    on_text(text)
                continue
            if msg["op"] == "reply" and msg.get("id") == rid:
                return msg

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Ask the broker for a reply under a schema."""
        return self.complete_scored(messages, schema, name).text

    def complete_scored(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> Completion:
        """Ask the broker for a reply under a schema, with its confidence."""
        return self._ask({"op": "lm", "messages": messages, "schema": schema, "name": name})

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Ask the broker for free text (a program, for Chain of Code)."""
        return self._ask({"op": "text", "messages": messages, "max_tokens": max_tokens}).text

    def stream_text(
        self, messages: list[dict[str, str]], max_tokens: int, on_text: Callable[[str], None]
    ) -> str:
        """Ask the broker for free text, streamed: ``on_text`` gets its complete lines so far
        as they come; an interrupt tells the broker to stop the generation."""
        message = {"op": "text", "messages": messages, "max_tokens": max_tokens, "stream": True}
        return self._ask(message, on_text).text


_channel: Channel | None = None
_confinement: Confinement | None = None
_send_lock = threading.Lock()


def _notify(message: dict[str, Any]) -> None:
    if _channel is None:
        return
    with _send_lock:
        try:
            _channel.send(message)
        except ChannelClosed:
            pass


def cell_started(limit: float) -> None:
    """Tell the broker a cell starts, so that it can end one that outruns ``limit`` (0: none)."""
    _notify({"op": "cell", "limit": limit, "at": time.monotonic()})


def cell_finished() -> None:
    """Tell the broker the cell has finished."""
    _notify({"op": "idle"})


def brokered() -> bool:
    """Whether this process was started by a broker (and so must ask it for LM replies)."""
    return _channel is not None


def broker_client(config: Config) -> BrokerClient:
    """A client for ``config``'s LM settings that goes through the broker."""
    assert _channel is not None
    return BrokerClient(_channel, config)


def broker_settings() -> dict[str, Any]:
    """The non-secret LM settings the broker started with (endpoint and model)."""
    try:
        data = json.loads(os.environ.get(LM_ENV) or "{}")
    except ValueError:
        return {}
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        if isinstance(data.get("base_url"), str):
            out["base_url"] = data["base_url"]
        if isinstance(data.get("model"), str):
            out["model"] = data["model"]
    return out


def broker_holds_key(base_url: str | None) -> bool:
    """Whether the broker holds an API key that it sends to ``base_url``."""
    try:
        data = json.loads(os.environ.get(LM_ENV) or "{}")
    except ValueError:
        return False
    return (
        isinstance(data, dict)
        and data.get("has_key") is True
        and base_url is not None
        and data.get("base_url") == base_url
    )


def current_confinement() -> Confinement | None:
    """What :func:`enter_sandbox` did in this process, if it ran."""
    return _confinement


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the broker died before the line above
        os._exit(1)


def enter_sandbox(
    *, syscalls: bool = True, workers: Callable[[], None] | None = None
) -> Confinement:
    """Connect to the broker, die with it, and confine this process as it described.

    ``syscalls=False`` leaves the seccomp filter for later (:func:`restrict_syscalls`), for a
    process that must open sockets first. ``workers``, once confined and while this process is
    still single-threaded, forks what will start isolated sessions' workers (the sandbox executes
    no program; :func:`lmulator.isolation.session.fork_worker_zygote`). Raises ConfigError if no
    broker started this process.
    """
    global _channel, _confinement
    fds = os.environ.pop(FDS_ENV, "")
    spec_text = os.environ.pop(SPEC_ENV, "")
    box_path = os.environ.pop(BOX_PATH_ENV, "")
    read_only = os.environ.pop(READ_ONLY_ENV, "")
    box_cwd = os.environ.pop(CWD_ENV, "")
    try:
        read_fd, write_fd = (int(x) for x in fds.split(","))
    except ValueError:
        raise ConfigError("this process was not started by an lmulator broker") from None
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    _die_with_parent()
    spec = SandboxSpec.from_json(spec_text) if spec_text else SandboxSpec(mode="off")
    if spec.tmpdir:
        for sub in ("ipython", "matplotlib"):
            os.makedirs(os.path.join(spec.tmpdir, sub), exist_ok=True)
    _channel = Channel(read_fd, write_fd, strict=True)
    route_clients_through(broker_client)  # the broker holds the key, the cache and the model
    try:
        code = [p for p in json.loads(read_only or "[]") if isinstance(p, str)]
    except ValueError:
        raise ConfigError("the broker's list of read-only directories is malformed") from None
    if code and spec.enabled and sys.platform == "linux" and landlock.abi_version() >= 1:
        make_read_only(code)  # code outside the box that lies in its workspace
    if box_cwd:  # started in / so that nothing was imported from here
        try:
            os.chdir(box_cwd)
        except OSError as exc:
            raise SandboxError(f"cannot enter {box_cwd}: {exc.strerror}") from None
    _confinement = confine(spec, syscalls=False)
    restore_box_path(box_path)  # the workspace, importable by cells now that nothing else runs
    if workers is not None and _confinement.confined:
        workers()  # forks while this process is single-threaded
    if syscalls and _confinement.confined:
        _confinement.syscalls = restrict_syscalls(processes=False)  # threads, no processes
    if not _confinement.confined and spec.enabled:
        print(f"lmulator: {_confinement.describe()}", file=sys.stderr)
    return _confinement
