"""The embedded default LM (Qwen2.5-Coder-1.5B-Instruct; see :mod:`lmulator.lm.local.model_files`),
served on 127.0.0.1 by llama-cpp-python, started on demand."""

from __future__ import annotations

import atexit
import collections
import importlib.util
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ...errors import ConfigError, EmulationError
from ...processes import stop_process
from .model_files import model_file, models_dir, selected_model

if TYPE_CHECKING:
    from ..client import Completion

START_TIMEOUT_S = 60.0
STDERR_LINES = 40  # the server's last lines of stderr kept, to say why it failed
GGUF_MAGIC = b"GGUF"


def model_path() -> Path:
    """The embedded model's GGUF file ($LMULATOR_GGUF, else the checked file of the model
    $LMULATOR_LOCAL_MODEL names: Qwen2.5-Coder-1.5B by default)."""
    override = os.environ.get("LMULATOR_GGUF")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"LMULATOR_GGUF points at {override}, which is not a file")
        return path
    return model_file()


def prompt_cache_dir() -> Path:
    """Where the embedded server keeps evaluated prompt states between runs."""
    chosen = os.environ.get("LMULATOR_PROMPT_CACHE_DIR")
    if chosen:
        return Path(chosen)
    return models_dir() / "prompt-cache" / model_path().stem


def model_alias() -> str:
    """The model name the embedded server answers to."""
    if os.environ.get("LMULATOR_GGUF"):
        return Path(os.environ["LMULATOR_GGUF"]).stem
    return selected_model().alias


@dataclass
class LocalServer:
    """A running embedded-model server owned by this process."""

    process: subprocess.Popen
    base_url: str

    def stop(self) -> None:
        """Stop the server process and wait for it."""
        stop_process(self.process)


_lock = threading.Lock()
_server: LocalServer | None = None


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/models", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def server_command(path: Path) -> list[str]:
    """The command that serves the model file ``path`` (run isolated, from ``/``)."""
    states = os.environ.get("LMULATOR_PROMPT_STATES", "").strip()  # kept in memory; 0: none
    disk_mb = os.environ.get("LMULATOR_PROMPT_CACHE_MB", "").strip()  # state files on disk
    return [
        sys.executable,
        "-I",  # isolated: no file of the current directory, no PYTHON* variable
        "-m",
        "lmulator.lm.local.serve",
        "--model",
        str(path),
        "--parent",
        str(os.getpid()),
        "--alias",
        model_alias(),
        "--prompt-cache",
        str(prompt_cache_dir().resolve()),
        *(["--states", str(int(states))] if states else []),
        *(["--prompt-cache-mb", str(int(disk_mb))] if disk_mb else []),
    ]


def start_server(timeout: float = START_TIMEOUT_S) -> LocalServer:
    """Start a server for the embedded model and wait until it answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(
            "no LM endpoint is configured and llama-cpp-python is not installed: "
            "set OPENAI_BASE_URL, or run ./setup.sh"
        )
    from .serve import server_environment

    path = model_path().resolve()
    process = subprocess.Popen(
        server_command(path),
        env=server_environment(os.environ),  # no key, nothing secret
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    assert process.stdout is not None and process.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
    drain = threading.Thread(target=_drain, args=(process.stderr, tail), daemon=True)
    drain.start()  # read all the while: a full pipe would stall the server
    line = process.stdout.readline()  # blocks until the server has bound its port
    if not line.startswith("port "):
        process.kill()
        process.wait()
        drain.join(timeout=2.0)
        raise EmulationError(f"the embedded model server failed to start: {why(tail, path)}")
    server = LocalServer(process, f"http://127.0.0.1:{int(line.split()[1])}/v1")
    deadline = time.monotonic() + timeout
    while not _healthy(server.base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            ended = process.poll() is not None
            server.stop()
            drain.join(timeout=2.0)
            detail = f": {why(tail, path)}" if ended else f" within {timeout:g} s"
            raise EmulationError(f"the embedded model server did not become healthy{detail}")
        time.sleep(0.05)
    return server


def _drain(stream: IO[str], tail: collections.deque[str]) -> None:
    """Keep the last lines of a stream until it ends."""
    for line in stream:
        tail.append(line.rstrip())


def why(tail: Iterable[str], path: Path) -> str:
    """Why the server failed, in one line: its last words on stderr (an exception's message,
    usually), and whether the model file is a GGUF file at all."""
    lines = [line.strip() for line in tail if line.strip()]
    said = lines[-1][:300] if lines else "it wrote nothing on stderr"
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(GGUF_MAGIC))
    except OSError as exc:
        return f"{said} (cannot read {path}: {exc.strerror})"
    if head != GGUF_MAGIC:
        return f"{said} ({path} is not a GGUF file: it does not start with {GGUF_MAGIC!r})"
    return said


def ensure_server() -> LocalServer:
    """This process's embedded-model server, started on first use and stopped at exit."""
    global _server
    with _lock:
        if _server is not None and _server.process.poll() is None:
            return _server
        _server = start_server()
        atexit.register(_server.stop)
        return _server


def server_stats() -> dict[str, int] | None:
    """This process's embedded server's prompt-token counts so far (None: no server running)."""
    import json

    server = _server
    if server is None or server.process.poll() is not None:
        return None
    root = server.base_url.removesuffix("/v1")
    try:
        with urllib.request.urlopen(root + "/lmulator/stats", timeout=5) as resp:
            return {str(k): int(v) for k, v in json.loads(resp.read()).items()}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def local_client(temperature: float = 0.0, timeout: float = 60.0):  # noqa: ANN201
    """A chat client for the embedded model (the server starts now if it is not running)."""
    from ..client import OpenAIChatClient

    server = ensure_server()
    return OpenAIChatClient(
        server.base_url,
        None,
        model_alias(),
        temperature=temperature,
        schema_style="json_object",
        timeout=timeout,
        max_tokens=256,
    )


class LazyLocalClient:
    """The embedded model's chat client; its server starts on the first request that reaches
    it, so replies answered from the cache or a replay file never start one."""

    def __init__(self, temperature: float = 0.0, timeout: float = 60.0) -> None:
        from ..client import Usage

        self.model = model_alias()
        self.temperature = temperature
        self.timeout = timeout
        self.usage = Usage()
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the server has been started for this client."""
        return self._client is not None

    def _inner(self) -> Any:
        with self._lock:
            if self._client is None:
                client = local_client(temperature=self.temperature, timeout=self.timeout)
                client.usage = self.usage
                self._client = client
            return self._client

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Return the text of the model's reply (starting the server if needed)."""
        return self._inner().complete(messages, schema, name)

    def complete_scored(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> Completion:
        """The model's reply and its confidence (starting the server if needed)."""
        return self._inner().complete_scored(messages, schema, name)

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Return the model's text reply, without a schema (starting the server if needed)."""
        return self._inner().complete_text(messages, max_tokens)

    def stream_text(
        self, messages: list[dict[str, str]], max_tokens: int, on_text: Callable[[str], None]
    ) -> str:
        """The model's text reply, streamed to ``on_text`` (starting the server if needed)."""
        return str(self._inner().stream_text(messages, max_tokens, on_text))
