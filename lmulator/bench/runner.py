"""Running many programs in a row, each with a time limit, for the benchmarks."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..engine.limits import wall_clock_limit
from ..engine.session import RunResult, Session
from ..partial.exercise import exercise_definitions

J = TypeVar("J")
R = TypeVar("R")


def run_jobs(todo: Sequence[J], run_job: Callable[[J], R], jobs: int) -> Iterator[R]:
    """Each job's result, in order: in this process, or in ``jobs`` spawned processes."""
    if jobs == 1:
        yield from map(run_job, todo)
        return
    context = multiprocessing.get_context("spawn")  # forking a threaded process can hang
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        yield from pool.map(run_job, todo)


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
                ran = (r.line for r in result.trace if r.status == "ran")
                exercise_definitions(session.namespace, result.source, ran)
            return result, False
    except TimeLimit:
        return None, True
    except (KeyboardInterrupt, SystemExit) as exc:
        if not _raised_in(exc, name):
            raise  # a real interrupt of the benchmark
        trace = result.trace if result is not None else session.current_trace
        return RunResult(source=source, name=name, trace=list(trace), error=exc), False


def _raised_in(exc: BaseException, filename: str) -> bool:
    """Whether ``exc`` was raised by code compiled from ``filename`` (the program itself)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename == filename


def python_files(*paths: str | Path) -> list[Path]:
    """The .py files under the given files and folders, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out
