"""A hostile endpoint cannot hang a run: a reply longer than the broker's pipe carries (33 MiB)
and a reply trickled one byte a second each end the cell with one clear error, within the LM
timeout and a margin, from ``python -m lmulator run``, a direct ``Session`` and a real kernel,
and the kernel keeps what earlier cells bound."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import EmulationError
from lmulator.lm.reply import MAX_REPLY_CHARS

from ..kernel.helpers import Kernel
from .hostile_http import Endpoint

TIMEOUT_S = 4  # LMULATOR_TIMEOUT for the trickling endpoint
MARGIN_S = 10.0  # what a run may take beyond it (starting Python, the kernel's round trips)
CELL = 'x = get_country("Paris")'
TOO_LONG = f"the reply is longer than {MAX_REPLY_CHARS} characters"


def said(mode: str, endpoint: Endpoint) -> str:
    """The words the error names for an endpoint in ``mode``."""
    if mode == "huge":
        return TOO_LONG
    return f"the LM at {endpoint.base_url} did not answer within {TIMEOUT_S} s"


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """What ``call`` returns, failing the test if it takes ``seconds`` or more (run in a thread
    so that a hang fails at the deadline instead of stalling the suite)."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"no result within {seconds:g} s"
    return outcome[0]


@pytest.fixture(params=["huge", "trickle"])
def hostile(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    endpoint = Endpoint(request.param)
    yield endpoint
    endpoint.close()


def test_the_cli_ends_with_one_clear_error(hostile, tmp_path):
    program = tmp_path / "p.py"
    program.write_text(CELL + "\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env = {**clean, "OPENAI_BASE_URL": hostile.base_url, "LMULATOR_MODEL": "m",
           "LMULATOR_CACHE": "off", "LMULATOR_TIMEOUT": str(TIMEOUT_S)}  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lmulator", "run", "--no-listing", str(program)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S + 2 * MARGIN_S,
    )  # fmt: skip
    took = time.monotonic() - started
    assert took < TIMEOUT_S + MARGIN_S, done.stderr
    errors = [line for line in done.stderr.splitlines() if "Error" in line]
    assert len(errors) == 1 and errors[0].startswith("EmulationError: line 1: "), done.stderr
    assert said(hostile.mode, hostile) in errors[0]
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_a_direct_session_ends_with_one_clear_error(hostile):
    s = Session(Config(base_url=hostile.base_url, model="m", cache="off", timeout=TIMEOUT_S))
    s.run("kept = 1")
    result = within(TIMEOUT_S + MARGIN_S, lambda: s.run(CELL))
    assert isinstance(result.error, EmulationError) and result.error.line == 1
    assert said(hostile.mode, hostile) in str(result.error)
    assert s.namespace["kept"] == 1 and "x" not in s.namespace


def test_a_kernel_cell_ends_with_one_clear_error_and_keeps_the_namespace(hostile, tmp_path_factory):
    notebook: Path = tmp_path_factory.mktemp("notebook")  # the kernel's workspace: its cwd
    kernel = Kernel(
        env={"OPENAI_BASE_URL": hostile.base_url, "LMULATOR_MODEL": "m", "LMULATOR_CACHE": "off",
             "LMULATOR_TIMEOUT": str(TIMEOUT_S), "LMULATOR_MODE": "interweave"},
        cwd=str(notebook),
    )  # fmt: skip
    try:
        assert kernel.run("kept = 1").status == "ok"
        started = time.monotonic()
        ex = kernel.run(CELL, timeout=TIMEOUT_S + MARGIN_S)  # raises if the cell outlasts it
        assert time.monotonic() - started < TIMEOUT_S + MARGIN_S
        assert ex.status == "error"
        (error,) = ex.of("error")
        assert error["ename"] == "EmulationError"
        assert said(hostile.mode, hostile) in error["evalue"]
        assert kernel.run("%mode python").status == "ok"  # no LM from here on
        assert kernel.run("kept").result == "1"
        assert kernel.run("x").of("error")[0]["ename"] == "NameError"  # nothing half-bound
    finally:
        kernel.close()
