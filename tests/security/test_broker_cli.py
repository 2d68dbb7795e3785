"""The broker's rules seen from ``python -m lmulator run``: a program that forges "idle" on the
broker's pipe and then computes in C is still ended; an endpoint that echoes the key reaches the
program scrubbed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    assert "ran past its 1 s limit" in done.stderr  # one program: "idle" stops no clock
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


# Says what ``SAYS`` holds on every pipe it has every half second while it computes, with the
# in-process timer switched off: neither the cell clock nor the idle watch may restart on its word.
LIES = """\
import os, signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
pipes = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
start = last = time.time()
while time.time() - start < 40:
    signal.setitimer(signal.ITIMER_REAL, 0)
    sum(range(200000))
    if time.time() - last > 0.5:
        for fd in pipes:
            try:
                os.write(fd, SAYS)
            except OSError:
                pass
        last = time.time()
print("SURVIVED")
"""
IDLE = b'{"op": "idle"}\n'
NEW_CELL = b'{"op": "cell", "limit": 1000}\n'


@pytest.mark.parametrize(
    "says, why",
    [
        (IDLE + NEW_CELL, "ran past its 2 s limit"),
        (IDLE, "ran past its 2 s limit"),
    ],
    ids=["idle-then-a-new-cell", "idle-again-and-again"],
)
def test_a_runner_repeating_its_claims_is_held_to_one_programs_limit(tmp_path, says, why):
    program = tmp_path / "lie.py"
    program.write_text(f"SAYS = {says!r}\n" + LIES)
    done, took = run(program, "--policy", "trusted", "--mode", "python", "--timeout", "2")
    assert "SURVIVED" not in done.stdout
    assert why in done.stderr
    assert done.returncode == 1 and took < 30


#: Says "idle" once, then mostly sleeps (a third of a core): no CPU watch would see it.
IDLE_THEN_SLEEP = """\
import os, signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
for fd in [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]:
    try:
        os.write(fd, b'{"op": "idle"}\\n')
    except OSError:
        pass
start = time.time()
while time.time() - start < 40:
    signal.setitimer(signal.ITIMER_REAL, 0)
    sum(range(100000))
    time.sleep(0.25)
print("SURVIVED")
"""


def test_one_idle_claim_does_not_stop_a_programs_clock(tmp_path):
    program = tmp_path / "sleepy.py"
    program.write_text(IDLE_THEN_SLEEP)
    done, took = run(program, "--policy", "trusted", "--mode", "python", "--timeout", "2")
    assert "SURVIVED" not in done.stdout
    assert "ran past its 2 s limit" in done.stderr
    assert done.returncode == 1 and took < 30
