"""The embedded model's server process: llama-cpp-python's OpenAI server on 127.0.0.1.

Run by :mod:`lmulator.lm.local.model` as
``python -I -m lmulator.lm.local.serve --model FILE --parent PID``, isolated (neither the current
directory nor ``PYTHON*`` variables reach its imports) and with :func:`server_environment` (no
key, nothing secret). It binds a free port, prints ``port N`` on stdout, serves until its parent
process is gone, then exits.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...memory import lift_own_memory_limit
from ...scrub import is_secret_name
from .last_row import install as install_last_row
from .prompt_state import LlamaModel, PromptStates
from .state_files import DISK_CAPACITY_BYTES

#: Environment variables the server keeps, by exact name or prefix: paths, locale, and what
#: llama.cpp and its GPU libraries read. Anything whose name says it holds a secret is dropped.
KEPT_NAMES = frozenset({
    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES", "CUDA_PATH", "HIP_VISIBLE_DEVICES", "HIP_PATH", "ROCR_VISIBLE_DEVICES",
})  # fmt: skip
KEPT_PREFIXES = ("LC_", "LLAMA_", "GGML_", "OMP_")


def server_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment the embedded model's server runs with: no key, nothing secret."""
    return {
        k: v
        for k, v in env.items()
        if (k in KEPT_NAMES or k.startswith(KEPT_PREFIXES)) and not is_secret_name(k)
    }


def _watch_parent(parent: int) -> None:
    """Exit as soon as the process that started us is gone (no orphans)."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.25)


def install_states(
    llama: Any,
    folder: Path | None,
    key: str,
    max_states: int | None = None,
    disk_bytes: int = DISK_CAPACITY_BYTES,
) -> PromptStates:
    """Give ``llama`` kept prompt states (see :mod:`.prompt_state`) and last-row prompt
    evaluation (see :mod:`.last_row`); returns the states."""
    rows = install_last_row(llama)
    folder = folder if disk_bytes > 0 else None  # no bytes on disk: no state files
    states = PromptStates(LlamaModel(llama), folder, key, disk_capacity=disk_bytes)
    if max_states is not None:
        states.max_states = max_states
    llama.set_cache(states)

    def completion(*args: Any, **kwargs: Any) -> Any:
        # The prompt's own scores asked for: neither kept nor computed, so evaluate it all.
        full_rows = bool(kwargs.get("echo")) and kwargs.get("logprobs") is not None
        if rows is not None:
            rows.full_rows = full_rows
        if full_rows:
            llama.reset()
        else:
            states.armed = True
        # The class's, looked up now: wrappers installed on the class still apply.
        return (yield from type(llama)._create_completion(llama, *args, **kwargs))

    llama._create_completion = completion
    return states


def main(argv: list[str] | None = None) -> int:
    """Serve the model until the parent exits."""
    lift_own_memory_limit()  # started during a cell, it inherits that cell's memory limit
    parser = argparse.ArgumentParser(prog="python -m lmulator.lm.local.serve")
    parser.add_argument("--model", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--alias", default="embedded")
    parser.add_argument("--prompt-cache", default=None, help="folder for evaluated prompt states")
    parser.add_argument(
        "--states", type=int, default=None, help="prompt states kept in memory (0: none)"
    )
    parser.add_argument(
        "--prompt-cache-mb", type=int, default=DISK_CAPACITY_BYTES >> 20,
        help="megabytes of prompt state files kept on disk",
    )  # fmt: skip
    args = parser.parse_args(argv)
    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from .fast_logprobs import install
    from .stream_usage import install as report_stream_usage

    install()  # log-probabilities (confidences) for the generated tokens only
    report_stream_usage()  # a streamed reply ends with its token counts, as OpenAI's do

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(
        server_settings=ServerSettings(host="127.0.0.1", port=port),
        model_settings=[
            ModelSettings(
                model=args.model,
                model_alias=args.alias,
                n_ctx=args.ctx,
                n_threads=args.threads,
                n_threads_batch=args.threads,
                verbose=False,
            )
        ],
    )
    from llama_cpp.server import app as server_app

    llama: Any = server_app._llama_proxy._current_model  # type: ignore[union-attr]
    folder = Path(args.prompt_cache) if args.prompt_cache else None
    states = install_states(
        llama, folder, f"ctx{args.ctx}", args.states, max(0, args.prompt_cache_mb) << 20
    )
    app.add_api_route("/lmulator/stats", states.snapshot, methods=["GET"])
    print(f"port {port}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
