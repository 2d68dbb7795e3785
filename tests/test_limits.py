"""Resource limits: a wall-clock limit and a memory allowance per cell."""

import subprocess
import sys

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import CellTimeout


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


BOMB_SESSION = """
from lmulator.config import Config
from lmulator.engine.session import Session
s = Session(Config(mode="interweave", lm="off", memory_mb=300))
s.run("kept = 1")
result = s.run("chunks = []\\nwhile True:\\n    chunks.append(bytearray(10**7))")
print(type(result.error).__name__, len(s.namespace["chunks"]))
print(type(s.run("big = 'x' * 10**10").error).__name__)
del s.namespace["chunks"]
print(s.run("len(bytearray(10**8)) + kept").value)
"""


def test_a_memory_bomb_in_a_session_ends_in_memory_error_and_the_session_goes_on():
    """In a fresh process: native buffers an earlier test left in this one, freed mid-cell,
    would widen the cell's allowance (it is the address space at the cell's start plus 300 MB)."""
    proc = subprocess.run(
        [sys.executable, "-c", BOMB_SESSION], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    bomb, big, after = proc.stdout.split("\n")[:3]
    error, chunks = bomb.split()
    assert error == "MemoryError"  # never handed to the LM
    assert 0 < int(chunks) < 40
    assert big == "MemoryError"
    assert int(after) == 10**8 + 1


def test_the_allowance_is_lifted_after_the_cell_and_a_tighter_limit_stays():
    import resource

    from lmulator.engine.limits import address_space_in_use, memory_allowance
    from lmulator.memory import MIB

    before = resource.getrlimit(resource.RLIMIT_AS)
    with memory_allowance(100 * MIB):
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        assert 0 < soft - address_space_in_use() <= 100 * MIB
        with memory_allowance(10_000 * MIB):  # an inner, looser allowance cannot widen it
            assert resource.getrlimit(resource.RLIMIT_AS)[0] == soft
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_memory_limit_defaults_to_half_the_machine_and_zero_means_none():
    from lmulator.memory import physical_memory

    assert abs(Config().memory_bytes() - physical_memory() // 2) < 2 * 1024 * 1024
    assert Config(memory_mb=0).memory_bytes() == 0


def test_wall_clock_limits_nest():
    import time

    import pytest

    from lmulator.engine.limits import wall_clock_limit

    class Outer(BaseException):
        pass

    s = Session(Config(mode="python", cell_timeout=0.2))
    with pytest.raises(Outer):
        with wall_clock_limit(0.6, Outer):
            result = s.run("n = 0\nwhile True:\n    n += 1")  # the inner limit ends first
            assert isinstance(result.error, CellTimeout)
            deadline = time.monotonic() + 5  # the outer limit, re-armed, ends this loop
            while time.monotonic() < deadline:
                pass
            pytest.fail("the outer limit was lost")
    s = Session(Config(mode="python", cell_timeout=5))
    with pytest.raises(Outer):  # an outer limit that ends sooner stays in charge
        with wall_clock_limit(0.2, Outer):
            s.run("while True:\n    pass")
