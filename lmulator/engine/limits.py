"""Resource limits for a running cell: address space a cell may add, and a wall-clock limit."""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import CellTimeout
from ..memory import MIB

REFIRE_S = 0.05
UNKNOWN_ADDRESS_SPACE = 2048 * MIB  # a generous guess at a fresh interpreter's mappings
# The C stack one level of recursion may take, at most: calls made from C take up to ~2.5 KiB
# a level on CPython 3.11 (sorted(key=...) the most; map, reduce, __repr__, __init__ less).
# The runner's stack may grow to STACK_TARGET where the address space below it has room, and the
# recursion limit never goes past what the stack holds: past it, a deep recursion through C calls
# would overflow the stack and end the process, where at the limit it raises RecursionError.
STACK_BYTES_PER_LEVEL = 4096
STACK_TARGET = 64 * MIB
MIN_RECURSION_CEILING = 1000  # Python's own default


def address_space_in_use() -> int:
    """This process's mapped address space in bytes (what RLIMIT_AS counts).

    A sandboxed child cannot read its own ``/proc`` entry (the sandbox opens only the first
    process's); it counts ``UNKNOWN_ADDRESS_SPACE`` instead.
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[0])
    except OSError:
        return UNKNOWN_ADDRESS_SPACE
    return pages * os.sysconf("SC_PAGE_SIZE")


def _as_limit(value: int) -> float:
    return float("inf") if value == resource.RLIM_INFINITY else value


@contextmanager
def memory_allowance(nbytes: int) -> Iterator[None]:
    """Let the block map at most ``nbytes`` more address space; beyond it allocations fail.

    A failed allocation raises MemoryError in the program. A tighter limit already in force
    (an outer one, or the hard limit) stays in force; the previous limit returns afterwards.
    """
    clamp_recursion_limit()  # every cell runs in here: the first one installs the clamp
    if nbytes <= 0:
        yield
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = address_space_in_use() + nbytes
    except (OSError, ValueError):  # no /proc: no limit rather than a failing cell
        yield
        return
    new = int(min(wanted, _as_limit(soft), _as_limit(hard)))
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextmanager
def wall_clock_limit(
    seconds: float, error: Callable[[], BaseException] | None = None
) -> Iterator[None]:
    """Raise ``error()`` (CellTimeout by default) in the block after ``seconds`` (main thread).

    Limits nest: an enclosing limit that ends sooner stays in charge, and one that ends later is
    re-armed with what it has left when the block ends.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    outer_left, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_left <= seconds:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        if error is not None:
            raise error()
        raise CellTimeout(f"the cell ran longer than its {seconds:g} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    start = time.monotonic()
    # The timer fires again every REFIRE_S: a handler that could not run (the program was at
    # its recursion limit) or whose exception was swallowed gets another chance.
    signal.setitimer(signal.ITIMER_REAL, seconds, REFIRE_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:
            left = outer_left - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), outer_interval)


@contextmanager
def interrupts_stop(stop: Callable[[BaseException], BaseException]) -> Iterator[None]:
    """While the block runs, an interrupt (SIGINT) raises ``stop(KeyboardInterrupt())``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:  # ignored, or handled by someone else
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        raise stop(KeyboardInterrupt())

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def wall_clock_paused() -> Iterator[None]:
    """Hold an enclosing wall-clock limit while the block runs; it goes on afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _room_below_stack() -> int | None:
    """Bytes free below the main thread's stack mapping (None if /proc cannot tell)."""
    previous_end = 0
    try:
        with open("/proc/self/maps", encoding="ascii") as fh:
            for line in fh:
                start, _, end = line.split(" ", 1)[0].partition("-")
                if line.rstrip().endswith("[stack]"):
                    return int(start, 16) - previous_end
                previous_end = int(end, 16)
    except (OSError, ValueError):
        return None
    return None


def usable_stack() -> int:
    """The bytes the main thread's stack may grow to, raising its soft limit toward
    STACK_TARGET where the hard limit and the address space below the stack allow."""
    infinity = resource.RLIM_INFINITY
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    except (OSError, ValueError):
        return 8 * MIB
    room = _room_below_stack()
    if room is not None:
        want = min(STACK_TARGET, room - 16 * MIB, STACK_TARGET if hard == infinity else hard)
        if soft != infinity and soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
                soft = want
            except (OSError, ValueError):
                pass
    stack = STACK_TARGET if soft == infinity else soft
    return max(0, min(stack, room)) if room is not None else stack


def recursion_ceiling() -> int:
    """The highest recursion limit the main thread's stack can hold."""
    return max(MIN_RECURSION_CEILING, usable_stack() // STACK_BYTES_PER_LEVEL)


def clamp_recursion_limit() -> None:
    """Make ``sys.setrecursionlimit`` go no higher than :func:`recursion_ceiling`: past it, a
    deep recursion through C calls overflows the stack and ends the process, where at the limit
    it raises RecursionError."""
    if getattr(sys.setrecursionlimit, "lmulator_clamped", False):
        return
    real = sys.setrecursionlimit
    ceiling = recursion_ceiling()

    def setrecursionlimit(limit: int, /) -> None:
        """Set the recursion limit, at most to what the main thread's stack can hold."""
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > ceiling:
            warnings.warn(
                f"sys.setrecursionlimit({limit}) lowered to {ceiling}: a deeper recursion "
                "would overflow the stack and end the process",
                RuntimeWarning,
                stacklevel=2,
            )
            limit = ceiling
        real(limit)

    setrecursionlimit.lmulator_clamped = True  # type: ignore[attr-defined]
    sys.setrecursionlimit = setrecursionlimit  # type: ignore[assignment]
    if sys.getrecursionlimit() > ceiling:
        real(ceiling)
