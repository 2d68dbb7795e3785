"""The broker: the process that holds the API key, starts the confined runner, answers its LMs.

The runner (a kernel, or the CLI's program) is started with an environment that holds no key and
no ``OPENAI_*`` variable, a private temporary directory, and two pipe descriptors; it confines
itself (:func:`lmulator.sandbox.confine`) before it runs any cell. Its LM requests come here as
JSON lines (:mod:`lmulator.wire`), are checked (roles, text, schema, settings), and are answered
with this process's client, which alone holds the key; the embedded llama.cpp server is started
here too, never in the runner.

The broker decides; the runner only asks (:mod:`.endpoints`): it may use the configured endpoint
and those the user listed when starting, the key goes only to the configured one and only with
the configured model (or a listed one); it may turn the reply cache off, not on; its cell time
limit may only be stricter than the user's, and a runner that says it is idle but keeps
computing is ended (:mod:`.watchdog`). Every text sent back is scrubbed of the key and of the
broker's other secrets (:mod:`lmulator.scrub`), and a runner that floods the broker gets busy
errors, never a stalled broker (:mod:`.dispatch`). Nothing sent back is longer than the channel
carries: a reply longer than the runner would take is an error here, and a request the LM does
not answer in time gets one too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config import Config
from ..errors import ConfigError, EmulationError, ReplyError
from ..lm.client import ChatClient, complete_scored, stream_text
from ..lm.confidence import confidence_or_none
from ..lm.factory import make_client
from ..lm.local.model import START_TIMEOUT_S
from ..lm.reply import check_reply_length
from ..scrub import Scrubber, is_secret_name, secret_values
from ..usage import metering
from ..wire import Channel, ChannelClosed, MessageTooLong
from .dispatch import Dispatcher, reply_id
from .edges import BoxEdges
from .endpoints import Allowance, settings_config
from .reap import end_session
from .spec import SandboxSpec
from .streams import Streams
from .watchdog import CellClock, lm_wait_credit

FDS_ENV = "LMULATOR_BROKER_FDS"
SPEC_ENV = "LMULATOR_SANDBOX_SPEC"
LM_ENV = "LMULATOR_BROKER_LM"
ROLES = ("system", "user", "assistant")
MAX_TEXT_TOKENS = 4096
MAX_IN_FLIGHT = 8  # LM requests answered at once (abandoned ones finish in the background)
MAX_QUEUED = 32  # LM requests waiting for an answering thread; more get "the broker is busy"
MAX_ERROR_CHARS = 1000
#: Past the LM's timeout, how long an answering thread may take before the runner is told there
#: is no answer (the client itself ends a request at its timeout).
ANSWER_GRACE_S = 10.0

#: Environment variables a runner keeps (by exact name or prefix); anything naming a key,
#: token, secret or password is dropped even then.
KEPT_NAMES = frozenset({
    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "COLUMNS", "LINES", "NO_COLOR",
    "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "VIRTUAL_ENV",
    "MPLBACKEND", "JPY_PARENT_PID", "JPY_SESSION_NAME", "CLICOLOR", "FORCE_COLOR",
})  # fmt: skip
KEPT_PREFIXES = ("LC_", "LMULATOR_", "JUPYTER_")


def runner_environment(env: Mapping[str, str], tmpdir: str) -> dict[str, str]:
    """The runner's environment: settings and locale only; no key, no ``OPENAI_*``."""
    kept = {
        k: v
        for k, v in env.items()
        if (k in KEPT_NAMES or k.startswith(KEPT_PREFIXES))
        and not is_secret_name(k)
        and k not in (FDS_ENV, SPEC_ENV, LM_ENV)
    }
    kept.update(
        TMPDIR=tmpdir,
        IPYTHONDIR=os.path.join(tmpdir, "ipython"),  # no profile or startup files of the user
        MPLCONFIGDIR=os.path.join(tmpdir, "matplotlib"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return kept


def valid_messages(messages: Any) -> bool:
    """Whether ``messages`` is a short list of chat messages with known roles and text."""
    return (
        isinstance(messages, list)
        and 0 < len(messages) <= 64
        and all(
            isinstance(m, dict)
            and m.get("role") in ROLES
            and isinstance(m.get("content"), str)
            and set(m) <= {"role", "content"}
            for m in messages
        )
    )


class Broker(CellClock):
    """Holds the key and the LM clients; starts a confined runner and answers its requests."""

    def __init__(
        self,
        config: Config,
        spec: SandboxSpec,
        client_factory: Callable[[Config], ChatClient] | None = None,
        env: Mapping[str, str] | None = None,
        one_cell: bool = False,
    ) -> None:
        """``env`` (default: this process's environment) names the endpoints and models the
        user allows besides the configured ones, and holds the secrets replies are scrubbed of;
        ``one_cell``: the runner runs one program, whose time limit counts from its first start
        whatever it says after; ConfigError if a list in it is malformed."""
        env = os.environ if env is None else env
        self.config = config.validate()
        self.spec = spec.validate()
        self.allowance = Allowance.from_env(self.config, env)
        self.scrub = Scrubber(secret_values(env, self.config.api_key))
        self._init_clock(self.config.cell_timeout, one_cell)  # the user's limit, read now
        self._make_client = client_factory or make_client
        self._clients: dict[tuple[Any, ...], ChatClient] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmpdir: str | None = None
        self.requests = 0
        self.refused = 0
        self.killed_because = ""
        self._thread: threading.Thread | None = None
        self._clients_lock = threading.Lock()
        self.dispatcher = Dispatcher(self._answer_timed, self._send, workers=MAX_IN_FLIGHT,
                                     pending=MAX_QUEUED, allowed=self.answer_within)  # fmt: skip
        self.streams = Streams(self.dispatcher.post, self.scrub)

    # -- the runner --------------------------------------------------------------------

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        stdout: Any = None,
    ) -> subprocess.Popen[bytes]:
        """Start the runner with a scrubbed environment and the channel; serve it in a thread.

        Nothing the box can write stays on this process's import path, and SandboxError is
        raised if this process already runs such a file (:mod:`.edges`).
        """
        self.tmpdir = tempfile.mkdtemp(prefix="lmulator-box-")
        spec = self.spec.with_(
            tmpdir=self.tmpdir, workspace=os.path.abspath(self.spec.workspace or cwd or os.getcwd())
        )
        try:
            self.edges: BoxEdges | None = BoxEdges.open(spec, cwd or os.getcwd())
        except BaseException:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        to_runner_r, to_runner_w = os.pipe()
        from_runner_r, from_runner_w = os.pipe()
        env = runner_environment(os.environ, self.tmpdir)
        env.update(extra_env or {})
        env = self.edges.runner_environment(env, spec.workspace)
        env[FDS_ENV] = f"{to_runner_r},{from_runner_w}"
        env[SPEC_ENV] = spec.to_json()
        env[LM_ENV] = json.dumps({"base_url": self.config.base_url, "model": self.config.model,
                                  "has_key": bool(self.config.api_key)})  # fmt: skip
        try:
            self.proc = subprocess.Popen(
                list(argv),
                pass_fds=(to_runner_r, from_runner_w),
                env=env,
                cwd="/",  # it enters ``cwd`` once it has imported what it needs (see .edges)
                stdout=stdout,
                start_new_session=True,  # signals reach it through the broker, once
            )
        finally:
            os.close(to_runner_r)
            os.close(from_runner_w)
        self.edges.watch(self.proc.pid)
        self.channel = Channel(from_runner_r, to_runner_w, strict=True)
        self._thread = threading.Thread(target=self._serve, name="lmulator-broker", daemon=True)
        self._thread.start()
        return self.proc

    def forward_signals(self, *signals: int) -> None:
        """Pass these signals on to the runner (an interrupt from Jupyter or the terminal)."""

        def forward(signum: int, _frame: object) -> None:
            if self.proc is not None and self.proc.poll() is None:
                first, started = self.interrupted_at, self.cell_started
                if first is None or (started is not None and first < started):
                    self.interrupted_at = time.monotonic()  # the first interrupt of this cell
                self.proc.send_signal(signum)

        for sig in signals:
            signal.signal(sig, forward)

    def overdue(self, grace_s: float) -> str:
        """Why the runner must be killed now ('' if it need not): a limit or an interrupt it
        did not obey within ``grace_s``, or computing past the user's limit while it says it is
        idle or waiting for the LM."""
        now = time.monotonic()
        started, limit = self.cell_started, self.cell_limit
        interrupted = self.interrupted_at
        if interrupted is not None and now - interrupted > grace_s:
            if started is not None and interrupted >= started:
                return f"did not stop within {grace_s:g} s of the interrupt"
            self.interrupted_at = None  # between cells: nothing to stop
        if started is not None and limit > 0 and now > started + limit + grace_s:
            credit = min(self.lm_waited(now), lm_wait_credit(limit))
            if now > started + limit + credit + grace_s:
                if credit < self.lm_waited(now):
                    return f"ran past its {limit:g} s limit and {credit:g} s of waiting for the LM"
                return f"ran past its {limit:g} s limit"
        return self._computing_unseen(now, grace_s)

    def wait(self, grace_s: float = 2.0) -> int:
        """Wait for the runner to end, killing it when :meth:`overdue`; return its status."""
        assert self.proc is not None
        while True:
            try:
                code = self.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                why = self.overdue(grace_s)
                if why:
                    self.killed_because = why
                    self.proc.kill()
            except KeyboardInterrupt:
                continue
        self.close()
        return 128 - code if code < 0 else code

    def close(self) -> None:
        """Stop the runner and every process of its box, and remove its temporary directory."""
        if self.proc is not None:
            end_session(self.proc.pid)  # the runner leads the box's session; setsid is refused
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        edges, self.edges = getattr(self, "edges", None), None
        if edges is not None:  # the box's processes are gone: sweep what it left
            edges.close()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self._clients.clear()

    # -- answering -----------------------------------------------------------------------

    def serve_channel(self, channel: Channel) -> threading.Thread:
        """Answer the runner at the other end of ``channel`` in a thread (what :meth:`start`
        does for the runner it starts); the channel is made strict."""
        channel.strict = True
        self.channel = channel
        self._thread = threading.Thread(target=self._serve, name="lmulator-broker", daemon=True)
        self._thread.start()
        return self._thread

    def _serve(self) -> None:
        """Read the runner's messages until it closes the channel. This thread never waits for
        anything but the runner: requests go to the dispatcher, which never blocks."""
        try:
            while True:
                try:
                    msg = self.channel.recv()
                except ChannelClosed:
                    return
                if msg is None:
                    continue
                op = msg.get("op")
                if op == "cell":
                    self._cell_starts(msg.get("limit"), msg.get("at"))
                elif op == "idle":
                    self._cell_ends()
                elif op == "cancel":
                    self.streams.cancel(msg.get("id"))
                else:
                    self.dispatcher.submit(msg)
        finally:
            self.dispatcher.close()

    def _answer_timed(self, msg: dict[str, Any]) -> dict[str, Any]:
        """:meth:`answer`, counting the time the runner waits for it as the LM's."""
        self._lm_begins()
        try:
            return self.answer(msg)
        finally:
            self._lm_ends()

    def _send(self, reply: dict[str, Any]) -> None:
        """Write one reply (from the dispatcher's writer thread); one too long for the channel
        becomes an error."""
        try:
            self.channel.send(reply)
        except MessageTooLong:
            error = "the broker's reply is longer than the channel to the runner carries"
            self.channel.send({"op": "reply", "id": reply.get("id"), "error": error,
                               "kind": "emulation"})  # fmt: skip

    def answer_within(self, msg: dict[str, Any]) -> float:
        """The seconds a request may wait for its answer before the runner is told there is
        none: its LM's timeout, the embedded model's start where it may start, and a grace."""
        try:
            config = self.settings_config(msg.get("settings"))
        except Exception:  # refused at once when it is answered
            return ANSWER_GRACE_S
        starting = START_TIMEOUT_S if config.base_url is None else 0.0
        return config.timeout + starting + ANSWER_GRACE_S

    def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The reply to one message from the runner, its texts scrubbed of secrets; never
        raises."""
        reply: dict[str, Any] = {"op": "reply", "id": reply_id(msg.get("id"))}
        op = msg.get("op")
        self.requests += 1
        try:
            if op not in ("lm", "text") or not valid_messages(msg.get("messages")):
                raise ReplyError("malformed LM request")
            client = self.client_for(msg.get("settings"))
            with metering(fresh=True) as meter:  # what this request cost, for the runner
                if op == "lm":
                    schema, name = msg.get("schema"), msg.get("name")
                    if not isinstance(schema, dict) or not isinstance(name, str) or len(name) > 64:
                        raise ReplyError("malformed LM request")
                    completion = complete_scored(client, msg["messages"], schema, name)
                    text = completion.text
                    reply["confidence"] = confidence_or_none(completion.confidence)
                else:
                    tokens = msg.get("max_tokens")
                    if not isinstance(tokens, int) or not 0 < tokens <= MAX_TEXT_TOKENS:
                        raise ReplyError("malformed LM request")
                    streamed = self.streams.sink(reply["id"]) if msg.get("stream") is True else None
                    text = stream_text(client, msg["messages"], tokens, streamed)
            reply["usage"] = meter.spent.as_dict()
            reply["text"] = self._sendable(text, op) if isinstance(text, str) else text
        except EmulationError as exc:
            reply.update(error=self._error_text(exc.detail), kind="emulation")
        except ReplyError as exc:
            self.refused += 1
            reply.update(error=self._error_text(str(exc)), kind="reply")
        except ConfigError as exc:
            self.refused += 1
            reply.update(error=self._error_text(str(exc)), kind="emulation")
        except Exception as exc:  # a client's own failure must not end the broker
            reply.update(error=self._error_text(f"{type(exc).__name__}: {exc}"), kind="emulation")
        return reply

    def _sendable(self, text: str, op: str) -> str:
        """A reply's text scrubbed, if it is no longer than the runner takes (which is far less
        than the channel carries); else ReplyError, or for free text EmulationError."""
        try:
            check_reply_length(text)  # before scrubbing: no work on a reply refused anyway
            text = self.scrub(text)
            check_reply_length(text)
        except ReplyError as exc:
            if op == "text":
                raise EmulationError(str(exc)) from None
            raise
        return text

    def _error_text(self, text: str) -> str:
        """An error's text as the runner may see it: scrubbed, then cut short."""
        text = self.scrub(text)
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."

    def client_for(self, settings: Any) -> ChatClient:
        """The client for the runner's LM settings, checked against what the broker allows."""
        config = self.settings_config(settings)
        key = (config.base_url, config.model, config.temperature, config.schema_style,
               config.timeout, config.cache)  # fmt: skip
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) >= 16:
                    self._clients.clear()
                client = self._clients[key] = self._make_client(config)
        return client

    def settings_config(self, settings: Any) -> Config:
        """The configuration a runner's settings ask for; ConfigError if it may not have it."""
        return settings_config(self.config, self.allowance, settings)
