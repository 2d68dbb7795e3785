"""Ending every process of a box: all of them share the runner's session.

The broker starts the runner as the leader of a new session, and the seccomp filter refuses
``setsid``, so every process the box starts (a double-forked daemon too) stays in that session
whatever its parent becomes. When the box ends, :func:`end_session` kills them all.
"""

from __future__ import annotations

import os
import signal
import time


def session_of(pid: int) -> int | None:
    """The session id of a process, or None if it is gone (from ``/proc/<pid>/stat``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[3])
    except (IndexError, ValueError):
        return None


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
        alive = [pid for pid in members(sid) if pid != os.getpid()]
        fresh = [pid for pid in alive if not _is_zombie(pid)]
        if not fresh:
            break
        for pid in fresh:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return len(killed)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"Z", b"X")
