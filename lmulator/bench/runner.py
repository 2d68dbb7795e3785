"""Running many programs in a row, each with a time limit, for the benchmarks."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

from ..executor import RunResult, Session
from ..limits import wall_clock_limit


class TimeLimit(BaseException):  # noqa: N818 - control flow, like KeyboardInterrupt
    """A program ran past its time limit."""


@contextlib.contextmanager
def quiet_io() -> Iterator[None]:
    """No stdin (``input()`` sees end of file) and output thrown away."""
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), io.StringIO(), io.StringIO()
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


def run_program(
    session: Session, source: str, name: str, seconds: float, exercise: bool = False
) -> tuple[RunResult | None, bool]:
    """Run one program; return its result (None if it timed out) and whether it timed out.

    With ``exercise``, functions the program defined but never called are then called once
    with stand-in arguments (within the same time limit).
    """
    result = None
    try:
        with quiet_io(), wall_clock_limit(seconds, TimeLimit):
            result = session.run(source, name=name)
            if exercise and result.error is None:
                session.exercise_definitions(result)
            return result, False
    except TimeLimit:
        return None, True


def python_files(*paths: str | Path) -> list[Path]:
    """The .py files under the given files and folders, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out
