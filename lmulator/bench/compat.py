"""``python -m lmulator.bench compat DIR``: do ordinary programs print what CPython prints?

``DIR`` holds ``programs/NNN.py`` and ``expected/NNN.out`` (CPython's output, run with
``PYTHONHASHSEED=0`` in an empty working directory). Each program is run the way a user runs it,
``python -m lmulator run programs/NNN.py --mode python`` under the default policy and sandbox,
with the same hash seed in an empty directory; its stdout is compared byte for byte. The last
line is ``ordinary code unchanged: S/N (P%)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    """One program's run."""

    name: str
    same: bool
    reason: str  # why not: the first line of the engine's error, or "output differs"


def _reason(stderr: str, timed_out: bool) -> str:
    if timed_out:
        return "timed out"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "output differs"


def run_one(program: Path, expected: Path, seconds: float, policy: str) -> Outcome:
    """Run one program through the CLI and compare its stdout with CPython's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env.update(PYTHONHASHSEED="0", LMULATOR_CACHE="off")
    with tempfile.TemporaryDirectory() as empty:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "lmulator", "run", str(program.resolve()), "--mode",
                 "python", "--policy", policy, "--no-listing"],
                capture_output=True, env=env, cwd=empty, timeout=seconds,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return Outcome(program.stem, False, "timed out")
    same = proc.stdout == expected.read_bytes()
    stderr = proc.stderr.decode("utf-8", "replace")
    return Outcome(program.stem, same, "" if same else _reason(stderr, False))


def run(
    folder: str, seconds: float = 60.0, jobs: int = 2, policy: str = "restricted",
    verbose: bool = False,
) -> float:  # fmt: skip
    """Run every program in ``folder``; print the failures and the share that matched."""
    root = Path(folder)
    programs = sorted((root / "programs").glob("*.py"))
    if not programs:
        print(f"no programs in {root / 'programs'}", file=sys.stderr)
        return 0.0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(
            lambda p: run_one(p, root / "expected" / f"{p.stem}.out", seconds, policy), programs
        ))  # fmt: skip
    same = sum(o.same for o in outcomes)
    for o in outcomes:
        if not o.same:
            print(f"{o.name}: {o.reason}")
        elif verbose:
            print(f"{o.name}: same")
    share = 100.0 * same / len(outcomes)
    print(f"ordinary code unchanged: {same}/{len(outcomes)} ({share:.1f}%)")
    return share
