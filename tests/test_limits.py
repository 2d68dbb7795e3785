"""Resource limits: a wall-clock limit per cell, an address-space limit for the CLI."""

import subprocess
import sys

from lmulator.config import Config
from lmulator.errors import CellTimeout
from lmulator.executor import Session


def test_an_endless_loop_is_stopped_by_the_cell_limit():
    s = Session(Config(mode="python", cell_timeout=0.5))
    s.run("kept = 1")
    result = s.run("n = 0\nwhile True:\n    n += 1")
    assert isinstance(result.error, CellTimeout)
    assert s.namespace["kept"] == 1 and s.namespace["n"] > 0
    assert s.run("kept + 1").value == 2  # the session goes on


def test_the_limit_is_off_by_default():
    assert Config().cell_timeout == 0


def test_a_memory_bomb_ends_in_memory_error(tmp_path):
    program = tmp_path / "bomb.py"
    program.write_text("kept = 1\nbig = 'x' * (10 ** 10)\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lmulator",
            "run",
            str(program),
            "--memory-mb",
            "400",
            "--no-listing",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("MemoryError")
