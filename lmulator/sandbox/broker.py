"""The broker: the process that holds the API key, starts the confined runner, answers its LMs.

The runner (a kernel, or the CLI's program) is started with an environment that holds no key and
no ``OPENAI_*`` variable, a private temporary directory, and two pipe descriptors; it confines
itself (:func:`lmulator.sandbox.confine`) before it runs any cell. Its LM requests come here as
JSON lines (:mod:`lmulator.wire`), are checked (roles, text, schema, settings), and are answered
with this process's client, which alone holds the key; the embedded llama.cpp server is started
here too, never in the runner.

The runner may choose the model, temperature and timeout, and an endpoint, but the key is only
ever sent to the endpoint the broker was started with, and another endpoint is accepted only on
the loopback interface (a local server), so a confined cell cannot use the broker to reach the
network or to send the key elsewhere.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from ..config import Config
from ..errors import ConfigError, EmulationError, ReplyError
from ..lm.client import SCHEMA_STYLES, ChatClient
from ..lm.factory import make_client
from ..wire import Channel, ChannelClosed
from .spec import SandboxSpec

FDS_ENV = "LMULATOR_BROKER_FDS"
SPEC_ENV = "LMULATOR_SANDBOX_SPEC"
LM_ENV = "LMULATOR_BROKER_LM"
ROLES = ("system", "user", "assistant")
MAX_TEXT_TOKENS = 4096
MAX_IN_FLIGHT = 8  # LM requests answered at once (abandoned ones finish in the background)

#: Environment variables a runner keeps (by exact name or prefix); anything naming a key,
#: token, secret or password is dropped even then.
KEPT_NAMES = frozenset({
    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "COLUMNS", "LINES", "NO_COLOR",
    "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "VIRTUAL_ENV",
    "MPLBACKEND", "JPY_PARENT_PID", "JPY_SESSION_NAME", "CLICOLOR", "FORCE_COLOR",
})  # fmt: skip
KEPT_PREFIXES = ("LC_", "LMULATOR_", "JUPYTER_")
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


def runner_environment(env: Mapping[str, str], tmpdir: str) -> dict[str, str]:
    """The runner's environment: settings and locale only; no key, no ``OPENAI_*``."""
    kept = {
        k: v
        for k, v in env.items()
        if (k in KEPT_NAMES or k.startswith(KEPT_PREFIXES))
        and not any(word in k.upper() for word in SECRET_WORDS)
        and k not in (FDS_ENV, SPEC_ENV, LM_ENV)
    }
    kept.update(
        TMPDIR=tmpdir,
        IPYTHONDIR=os.path.join(tmpdir, "ipython"),  # no profile or startup files of the user
        MPLCONFIGDIR=os.path.join(tmpdir, "matplotlib"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return kept


def is_loopback_url(url: str) -> bool:
    """Whether an http(s) URL names this machine's loopback interface."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


class Broker:
    """Holds the key and the LM clients; starts a confined runner and answers its requests."""

    def __init__(
        self,
        config: Config,
        spec: SandboxSpec,
        client_factory: Callable[[Config], ChatClient] | None = None,
    ) -> None:
        self.config = config.validate()
        self.spec = spec.validate()
        self._make_client = client_factory or make_client
        self._clients: dict[tuple[Any, ...], ChatClient] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmpdir: str | None = None
        self.requests = 0
        self.refused = 0
        self.lm_seconds = 0.0  # time spent answering the current cell's LM requests
        self.cell_started: float | None = None  # set while the runner says a cell runs
        self.cell_limit = 0.0
        self.interrupted_at: float | None = None
        self.killed_because = ""
        self._thread: threading.Thread | None = None
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._send_lock = threading.Lock()
        self._clients_lock = threading.Lock()

    # -- the runner --------------------------------------------------------------------

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        stdout: Any = None,
    ) -> subprocess.Popen[bytes]:
        """Start the runner with a scrubbed environment and the channel; serve it in a thread."""
        self.tmpdir = tempfile.mkdtemp(prefix="lmulator-box-")
        to_runner_r, to_runner_w = os.pipe()
        from_runner_r, from_runner_w = os.pipe()
        spec = self.spec.with_(
            tmpdir=self.tmpdir, workspace=os.path.abspath(self.spec.workspace or cwd or os.getcwd())
        )
        env = runner_environment(os.environ, self.tmpdir)
        env.update(extra_env or {})
        env[FDS_ENV] = f"{to_runner_r},{from_runner_w}"
        env[SPEC_ENV] = spec.to_json()
        env[LM_ENV] = json.dumps({"base_url": self.config.base_url, "model": self.config.model,
                                  "has_key": bool(self.config.api_key)})  # fmt: skip
        try:
            self.proc = subprocess.Popen(
                list(argv),
                pass_fds=(to_runner_r, from_runner_w),
                env=env,
                cwd=cwd,
                stdout=stdout,
                start_new_session=True,  # signals reach it through the broker, once
            )
        finally:
            os.close(to_runner_r)
            os.close(from_runner_w)
        self.channel = Channel(from_runner_r, to_runner_w)
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
        did not obey within ``grace_s``."""
        now = time.monotonic()
        started, limit = self.cell_started, self.cell_limit
        interrupted = self.interrupted_at
        if interrupted is not None and now - interrupted > grace_s:
            if started is not None and interrupted >= started:
                return f"did not stop within {grace_s:g} s of the interrupt"
            self.interrupted_at = None  # between cells: nothing to stop
        if started is not None and limit > 0 and now > started + limit + self.lm_seconds + grace_s:
            return f"ran past its {limit:g} s limit"
        return ""

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
        """Stop the runner if it runs, and remove its temporary directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self._clients.clear()

    # -- answering -----------------------------------------------------------------------

    def _serve(self) -> None:
        """Read the runner's messages; answer each LM request in its own thread, so that one
        the runner abandoned (interrupted while the LM was slow) does not hold up the next."""
        while True:
            try:
                msg = self.channel.recv()
            except ChannelClosed:
                return
            if msg is None:
                continue
            if msg.get("op") == "cell":  # the runner starts a cell (with its time limit)
                limit, at = msg.get("limit"), msg.get("at")
                self.cell_limit = float(limit) if isinstance(limit, (int, float)) else 0.0
                self.lm_seconds = 0.0
                now = time.monotonic()  # the same clock in both processes
                self.cell_started = min(float(at), now) if isinstance(at, (int, float)) else now
                continue
            if msg.get("op") == "idle":
                self.cell_started = None
                self.interrupted_at = None
                continue
            if not self._slots.acquire(timeout=60):  # MAX_IN_FLIGHT requests already running
                self._reply({"op": "reply", "id": msg.get("id"), "error": "the broker is busy",
                             "kind": "emulation"})  # fmt: skip
                continue
            threading.Thread(target=self._answer_in_thread, args=(msg,), daemon=True).start()

    def _answer_in_thread(self, msg: dict[str, Any]) -> None:
        try:
            started = time.monotonic()
            reply = self.answer(msg)
            self.lm_seconds += time.monotonic() - started
            self._reply(reply)
        finally:
            self._slots.release()

    def _reply(self, reply: dict[str, Any]) -> None:
        with self._send_lock:
            try:
                self.channel.send(reply)
            except ChannelClosed:
                pass

    def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The reply to one message from the runner; never raises."""
        reply: dict[str, Any] = {"op": "reply", "id": msg.get("id")}
        op = msg.get("op")
        self.requests += 1
        try:
            if op not in ("lm", "text") or not valid_messages(msg.get("messages")):
                raise ReplyError("malformed LM request")
            client = self.client_for(msg.get("settings"))
            if op == "lm":
                schema, name = msg.get("schema"), msg.get("name")
                if not isinstance(schema, dict) or not isinstance(name, str) or len(name) > 64:
                    raise ReplyError("malformed LM request")
                reply["text"] = client.complete(msg["messages"], schema, name)
            else:
                tokens = msg.get("max_tokens")
                if not isinstance(tokens, int) or not 0 < tokens <= MAX_TEXT_TOKENS:
                    raise ReplyError("malformed LM request")
                reply["text"] = client.complete_text(msg["messages"], tokens)
        except EmulationError as exc:
            reply.update(error=exc.detail, kind="emulation")
        except ReplyError as exc:
            self.refused += 1
            reply.update(error=str(exc), kind="reply")
        except ConfigError as exc:
            self.refused += 1
            reply.update(error=str(exc), kind="emulation")
        except Exception as exc:  # a client's own failure must not end the broker
            reply.update(error=f"{type(exc).__name__}: {exc}"[:300], kind="emulation")
        return reply

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
        if settings is None:
            return self.config
        if not isinstance(settings, dict):
            raise ConfigError("LM settings must be an object")
        base_url = settings.get("base_url", self.config.base_url)
        if base_url is not None and (
            not isinstance(base_url, str) or len(base_url) > 2000
        ):  # fmt: skip
            raise ConfigError("the LM endpoint must be a URL")
        if base_url not in (self.config.base_url, None) and not is_loopback_url(base_url):
            raise ConfigError(
                f"the sandbox does not let cells reach {base_url}: set OPENAI_BASE_URL before "
                "the kernel starts, or use a server on 127.0.0.1"
            )
        model = settings.get("model", self.config.model)
        temperature = settings.get("temperature", self.config.temperature)
        timeout = settings.get("timeout", self.config.timeout)
        schema_style = settings.get("schema_style", self.config.schema_style)
        cache = settings.get("cache", self.config.cache)
        if not isinstance(model, str) or not 0 < len(model) <= 200:
            raise ConfigError("the model name must be text")
        if not isinstance(temperature, (int, float)) or not isinstance(timeout, (int, float)):
            raise ConfigError("temperature and timeout must be numbers")
        if not 0 < timeout <= 600:
            raise ConfigError("the LM timeout must be between 0 and 600 s")
        if schema_style not in SCHEMA_STYLES:
            raise ConfigError(f"unknown schema style {schema_style!r}")
        if cache not in ("auto", "off") and cache != self.config.cache:
            raise ConfigError("under the sandbox the reply cache is 'auto' or 'off'")
        same_endpoint = base_url == self.config.base_url
        return replace(
            self.config,
            base_url=base_url,
            api_key=self.config.api_key if same_endpoint else None,  # the key stays with its URL
            model=model,
            temperature=float(temperature),
            timeout=float(timeout),
            schema_style=schema_style,
            cache=cache,
        ).validate()
