"""The broker's rules seen from ``python -m lmulator run``: a program that forges "idle" on the
broker's pipe and then computes in C is still ended; an endpoint that echoes the key reaches the
program scrubbed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .hostile_http import Endpoint

KEY = "sk-cli-0123456789-SECRET"
FORGE_IDLE = """\
import itertools
import os

for fd in map(int, os.listdir("/proc/self/fd")):  # every pipe it holds, the broker's among them
    try:
        os.write(fd, b'{"op": "idle"}\\n{"op": "cell", "limit": 0}\\n{"op": "idle"}\\n')
    except OSError:
        pass
sum(itertools.repeat(1, 10**12))  # C code that never looks at signals
"""


def run(
    program: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``program`` through the CLI (a broker and its confined runner); return how long."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lmulator", "run", *args, str(program)],
        cwd=program.parent, env={**clean, "LMULATOR_CACHE": "off", **(env or {})},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done, time.monotonic() - started


def test_a_forged_idle_does_not_save_a_c_loop_from_the_limit(tmp_path):
    program = tmp_path / "forge.py"
    program.write_text(FORGE_IDLE)
    done, took = run(program, "--policy", "trusted", "--mode", "python", "--timeout", "1")
    assert "kept computing for 3 s while it was idle (the limit is 1 s)" in done.stderr
    assert done.returncode == 1 and took < 30


def test_a_reply_that_echoes_the_key_reaches_the_program_scrubbed(tmp_path):
    hostile = Endpoint("echo_reply")
    try:
        program = tmp_path / "echo.py"
        program.write_text("print('got:', what_was_sent('x'))\n")
        env = {"OPENAI_BASE_URL": hostile.base_url, "OPENAI_API_KEY": KEY}
        done, _ = run(program, "--no-listing", env=env)
    finally:
        hostile.close()
    assert hostile.seen()[0]["headers"]["authorization"] == f"Bearer {KEY}"
    assert "got: Bearer [redacted]" in done.stdout
    assert KEY not in done.stdout + done.stderr
