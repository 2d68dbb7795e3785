"""The runner's cells and CPU time as the broker sees them: claims held to the user's limits.

A runner's "a cell starts" and "idle" messages are claims. :class:`CellClock` holds a cell to
the user's time limit (a runner may only ask for a stricter one; a second "start" does not
restart the clock), and, while the runner claims to be idle or to wait for the LM,
:class:`CpuWatch` tells whether it has in fact kept computing: the CPU time of its processes
(the runner, its live descendants, the other processes of its session, and the children they
have reaped), read from ``/proc``, over a trailing window against the window's wall-clock time.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: Share of one core above which a process tree counts as computing (an idle kernel uses ~1%).
BUSY_SHARE = 0.5
#: Samples are taken at most this often.
SAMPLE_EVERY_S = 0.5
#: At most this many samples are kept (a long window is sampled less often).
MAX_SAMPLES = 500
#: Until the runner first says a cell starts or ends, it may compute this long (its imports).
STARTUP_S = 30.0
#: However the runner splits its work into cells, its processes may not compute without a pause
#: (SUSTAINED_SHARE of a core or more) for longer than this many cell limits with their grace,
#: and SUSTAINED_MIN_S: a notebook run from top to bottom has pauses between its cells.
SUSTAINED_LIMITS = 10
SUSTAINED_MIN_S = 300.0
SUSTAINED_SHARE = 0.9


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK") or 100
    except (ValueError, OSError):
        return 100


TICKS = _ticks_per_second()


def _stat(pid: str) -> tuple[int, int, float] | None:
    """A process's parent, session, and CPU seconds (its own and its reaped children's)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()  # after "pid (comm) "
    try:
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        return int(fields[1]), int(fields[3]), ticks / TICKS
    except (IndexError, ValueError):
        return None


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds used by ``pid``, its live descendants and the other processes of the session
    it leads (None if ``pid`` is gone)."""
    stats: dict[int, tuple[int, int, float]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        names = [str(pid)]
    for name in names:
        if name.isdigit():
            stat = _stat(name)
            if stat is not None:
                stats[int(name)] = stat
    if pid not in stats:
        return None
    children: dict[int, list[int]] = {}
    for child, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(child)
    found = {p for p, (_, sid, _) in stats.items() if sid == pid}
    todo = [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(c for c in children.get(current, ()) if c not in found)
    return sum(stats[p][2] for p in found)


class CpuWatch:
    """Samples a process tree's CPU time over a trailing window of ``span`` seconds."""

    def __init__(
        self,
        pid: int,
        span: float,
        read: Callable[[int], float | None] = tree_cpu_seconds,
        busy_share: float = BUSY_SHARE,
    ) -> None:
        self.pid = pid
        self.span = span
        self.read = read
        self.busy_share = busy_share
        self.every = max(SAMPLE_EVERY_S, span / MAX_SAMPLES)
        self.samples: deque[tuple[float, float]] = deque()  # (monotonic time, CPU seconds)

    def sample(self, now: float) -> None:
        """Take a sample, unless the last one is too recent; forget those out of the window."""
        if self.samples and now - self.samples[-1][0] < self.every:
            return
        cpu = self.read(self.pid)
        if cpu is None:
            return
        self.samples.append((now, cpu))
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.span:
            self.samples.popleft()  # keep one sample at or before the window's start

    def share(self, since: float) -> float | None:
        """The share of a core the tree used over the last ``span`` seconds; None unless
        that whole window was sampled and lies after ``since``."""
        if len(self.samples) < 2:
            return None
        then, cpu_then = self.samples[0]
        now, cpu_now = self.samples[-1]
        if then > now - self.span or then < since:
            return None
        return max(0.0, cpu_now - cpu_then) / (now - then)

    def computing(self, since: float) -> bool:
        """Whether the tree used at least ``busy_share`` of a core over the last ``span``
        seconds, all of them after ``since``."""
        share = self.share(since)
        return share is not None and share >= self.busy_share


#: A cell's time waiting for the LM is not the cell's, up to this many times its limit and at
#: least LM_CREDIT_MIN_S: a runner that keeps requests in flight all the time gains that long.
LM_CREDIT_LIMITS = 30
LM_CREDIT_MIN_S = 600.0


def lm_wait_credit(limit: float) -> float:
    """The most time waiting for the LM that a cell with this limit is not charged for."""
    return max(LM_CREDIT_LIMITS * limit, LM_CREDIT_MIN_S)


def effective_limit(user: float, asked: Any) -> float:
    """The cell time limit in force: the runner's only where it is stricter than the user's
    (0: none)."""
    if isinstance(asked, bool) or not isinstance(asked, (int, float)):
        return user
    if not math.isfinite(asked) or asked <= 0:
        return user
    return float(asked) if user <= 0 else min(user, float(asked))


class CellClock:
    """The broker's view of the runner's cells: when one started (as the runner said, held to
    the user's limit), how long it waited for the LM, and whether it computed unseen."""

    proc: subprocess.Popen[bytes] | None

    def _init_clock(self, user_limit: float, one_cell: bool = False) -> None:
        self.user_limit = user_limit  # the user's; a runner's limit is only a wish
        self.one_cell = one_cell  # a program's run: its clock never starts again
        self._first_start: float | None = None
        self._sustained: CpuWatch | None = None
        self.lm_seconds = 0.0  # time the current cell waited for the LM (finished requests)
        self.cell_started: float | None = None  # set while the runner says a cell runs
        self.cell_limit = 0.0
        self.idle_since: float | None = None  # since when the runner says no cell runs
        self.interrupted_at: float | None = None
        self._lm_lock = threading.Lock()
        self._lm_in_flight = 0
        self._lm_since = 0.0  # when the current stretch with requests in flight began
        self._cpu: CpuWatch | None = None
        self._startup_ends = 0.0  # until then, a runner that has said nothing may compute

    def lm_waited(self, now: float) -> float:
        """How long the current cell has waited for the LM (stretches with a request in
        flight, counted once however many are)."""
        with self._lm_lock:
            waited = self.lm_seconds
            if self._lm_in_flight and self.cell_started is not None:
                waited += max(0.0, now - max(self._lm_since, self.cell_started))
        return waited

    def _quiet_since(self) -> tuple[float | None, str]:
        """Since when the runner says it does not compute (idle, or waiting for the LM)."""
        started = self.cell_started
        if started is None:
            since = self.idle_since if self.idle_since is not None else self._startup_ends
            return since, "it was idle"
        with self._lm_lock:
            if self._lm_in_flight:
                return max(started, self._lm_since), "it waited for the LM"
        return None, ""

    def _computing_unseen(self, now: float, grace_s: float) -> str:
        """Why the runner must end for computing past the user's limit while it says it does
        not compute ('' if it need not): measured from its CPU time, not taken from it."""
        if self.user_limit <= 0 or self.proc is None:
            return ""
        span = self.user_limit + grace_s
        if self._cpu is None:
            self._cpu = CpuWatch(self.proc.pid, span)
            self._sustained = CpuWatch(
                self.proc.pid,
                max(SUSTAINED_LIMITS * span, SUSTAINED_MIN_S),
                busy_share=SUSTAINED_SHARE,
            )
            self._startup_ends = now + STARTUP_S
        self._cpu.sample(now)
        assert self._sustained is not None
        self._sustained.sample(now)
        if self._sustained.computing(-math.inf):  # whatever cells the runner said it ran
            return (
                f"kept computing for {self._sustained.span:g} s without a pause "
                f"(the limit is {self.user_limit:g} s a cell)"
            )
        since, claim = self._quiet_since()
        if since is None or not self._cpu.computing(since):
            return ""
        return f"kept computing for {span:g} s while {claim} (the limit is {self.user_limit:g} s)"

    def _cell_starts(self, limit: Any, at: Any) -> None:
        """The runner says a cell starts, asking for a time limit: a stricter one than the
        user's is taken. A second start before the cell ends keeps the first one's time."""
        if self.cell_started is not None:
            self.cell_limit = effective_limit(self.cell_limit, limit)
            return
        now = time.monotonic()  # the same clock in both processes
        self.cell_limit = effective_limit(self.user_limit, limit)
        if self.one_cell and self._first_start is not None:
            self.cell_started = self._first_start  # one program, one clock: "idle" pauses nothing
            self.idle_since = None
            return
        with self._lm_lock:
            self.lm_seconds = 0.0
        valid = isinstance(at, (int, float)) and not isinstance(at, bool) and math.isfinite(at)
        self.cell_started = min(float(at), now) if valid else now
        self._first_start = self.cell_started
        self.idle_since = None

    def _cell_ends(self) -> None:
        """The runner says the cell has finished (said again while idle, it changes nothing:
        idle since the first time)."""
        if self.cell_started is None and self.idle_since is not None:
            return
        if self.one_cell and self._first_start is not None:
            return  # one program: its clock runs until the runner exits, whatever it says
        self.idle_since = time.monotonic()
        self.cell_started = None
        self.interrupted_at = None

    def _lm_begins(self) -> None:
        """An LM request is being answered."""
        with self._lm_lock:
            if not self._lm_in_flight:
                self._lm_since = time.monotonic()
            self._lm_in_flight += 1

    def _lm_ends(self) -> None:
        """An LM request has been answered."""
        with self._lm_lock:
            self._lm_in_flight -= 1
            started = self.cell_started
            if not self._lm_in_flight and started is not None:
                now = time.monotonic()
                self.lm_seconds += max(0.0, now - max(self._lm_since, started))
