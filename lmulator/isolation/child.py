"""The isolated child process: its environment, how it starts, how it is signalled and ended."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def child_environment(home: str) -> dict[str, str]:
    """The child's environment: a path, a locale and a home; nothing else (no keys)."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
    }


def spawn_child(
    workdir: str, spawner: Callable[[str, dict[str, str]], tuple[Any, int, int]] | None
) -> tuple[Any, int, int]:
    """Start a worker in ``workdir``: ``(process, read_fd, write_fd)`` (``spawner`` forks one
    without exec inside the sandbox; otherwise a fresh interpreter in its own session)."""
    if spawner is not None:
        return spawner(workdir, child_environment(workdir))
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "lmulator.isolation.worker",
             str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=child_environment(workdir),
            cwd=workdir,
            start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    return proc, from_child_r, to_child_w


def signal_in_group(pgid: int, pid: int | None, sig: int) -> bool:
    """Send a signal to one of the child's processes (never outside its group ``pgid``)."""
    if not isinstance(pid, int) or pid <= 1:
        return False
    try:
        if os.getpgid(pid) != pgid:
            return False
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(pgid: int, proc: Any, workdir: str) -> None:
    """Kill the child's process group and remove its working directory."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    shutil.rmtree(workdir, ignore_errors=True)


def close_fds(*fds: int) -> None:
    """Close file descriptors, ignoring those already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
