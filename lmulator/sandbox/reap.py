"""Ending every process of a box: all of them share the runner's session.

The broker starts the runner as the leader of a new session, and the seccomp filter refuses
``setsid``, so every process the box starts (a double-forked daemon too) stays in that session
whatever its parent becomes. When the box ends, :func:`end_session` kills them all: each process
group of the session at once (the runner starts no process; an isolated worker leads a group
that it and all it forks may not leave, so a process that forks and exits in a loop, changing its
pid faster than ``/proc`` is scanned, dies with its group), then every process left.
"""

from __future__ import annotations

import os
import signal
import time


def _stat_field(pid: int, index: int) -> int | None:
    """A number of ``/proc/<pid>/stat`` after the command name and state (1: ppid, 2: process
    group, 3: session), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[index])
    except (IndexError, ValueError):
        return None


def session_of(pid: int) -> int | None:
    """The session id of a process, or None if it is gone."""
    return _stat_field(pid, 3)


def group_of(pid: int) -> int | None:
    """The process group of a process, or None if it is gone."""
    return _stat_field(pid, 2)


def members(sid: int) -> list[int]:
    """The processes of session ``sid`` still alive (zombies included)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and session_of(int(name)) == sid:
            found.append(int(name))
    return found


def end_session(sid: int, timeout: float = 5.0) -> int:
    """Kill every process of session ``sid`` (never this process); return how many were killed.

    Kills in rounds until a scan finds none, so processes forked during a round die in the
    next; gives up after ``timeout`` seconds (a fork bomb faster than the scan).
    """
    if sid <= 1 or session_of(os.getpid()) == sid:
        return 0
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # a leader that has exited shows as a zombie while its other threads run on: a process
        # is gone only when every one of its threads is
        fresh = [pid for pid in members(sid) if pid != os.getpid() and _has_live_thread(pid)]
        if not fresh:
            break
        # a whole group at once first: a signal to a group reaches a child being forked too,
        # and an isolated worker's group holds all it forks (it may not leave it)
        mine = os.getpgrp()
        for group in {group_of(pid) for pid in fresh} - {None, 0, 1, mine}:
            try:
                os.killpg(group, signal.SIGKILL)  # type: ignore[arg-type]
            except (ProcessLookupError, PermissionError):
                pass
        for pid in fresh:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return len(killed)


def _state(path: str) -> bytes:
    """The state letter in a ``stat`` file, or ``X`` if it is gone."""
    try:
        with open(path, "rb") as fh:
            stat = fh.read()
    except OSError:
        return b"X"
    at = stat.rfind(b")") + 2
    return stat[at : at + 1]


def _has_live_thread(pid: int) -> bool:
    """Whether any thread of a process is still running (not a zombie, not dead)."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any(_state(f"/proc/{pid}/task/{t}/stat") not in (b"Z", b"X") for t in threads)
