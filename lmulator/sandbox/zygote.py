"""A process that forks isolated workers inside the sandbox, so that nothing ever needs exec.

The sandbox lets no program be executed (not even Python: with the dynamic loader, exec of the
interpreter is exec of anything readable). An isolated session still needs a fresh process for
its cells, so the runner forks a *zygote* right after it is confined, while it is still
single-threaded; on request the zygote forks a worker, which runs the entry point the zygote was
given (:func:`lmulator.isolation.session.fork_worker_zygote` gives the isolated worker's), and hands
its pipe ends back over a UNIX socket pair (``SCM_RIGHTS``). Workers are in the runner's Landlock
domain, so the runner may signal them, and nothing outside.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import subprocess
from collections.abc import Callable
from typing import Any

from .confine import keep_process_group, restrict_syscalls

MAX_REQUEST = 4096
#: A worker's entry point: its arguments (read and write descriptors, the runner's pid) to its
#: exit status.
WorkerMain = Callable[[list[str]], int]
PR_SET_PDEATHSIG = 1


class ForeignChild:
    """A process that is not this one's child, followed through a pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        """0 once the process has ended (its status is its parent's to read), else None."""
        if self.returncode is None and self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], 0)
            if ready:
                self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; TimeoutExpired if it has not within ``timeout``."""
        if self.returncode is None and self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            self._ended()
        return self.returncode or 0

    def _ended(self) -> None:
        self.returncode = 0
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Zygote:
    """The runner's side: ask the zygote for a worker that runs ``entry``."""

    def __init__(self, entry: WorkerMain) -> None:
        ours, theirs = socket.socketpair()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the zygote
            ours.close()
            code = 0
            try:
                _die_with(parent)
                # the runner's filters, installed later, are not inherited: the zygote starts
                # workers, and they fork their snapshots
                restrict_syscalls(processes=True)
                _serve(theirs, entry)
            except BaseException:
                code = 1
            os._exit(code)
        theirs.close()
        self.sock = ours
        self.pid = pid

    def spawn(self, workdir: str, env: dict[str, str]) -> tuple[ForeignChild, int, int]:
        """Fork a worker in ``workdir`` with ``env``; return it and (read, write) descriptors."""
        request = json.dumps({"workdir": workdir, "env": env}).encode()
        if len(request) > MAX_REQUEST:
            raise OSError("worker request too long")
        self.sock.sendall(request + b"\n")
        data, fds, _, _ = socket.recv_fds(self.sock, 64, 2)
        if len(fds) != 2 or not data.strip().isdigit():
            for fd in fds:
                os.close(fd)
            raise OSError("the zygote could not start a worker")
        return ForeignChild(int(data)), fds[0], fds[1]


def _die_with(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _serve(sock: socket.socket, entry: WorkerMain) -> None:
    """The zygote's loop: one worker per request, until the runner closes the socket."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    buffer = b""
    while True:
        chunk = sock.recv(MAX_REQUEST)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                request: Any = json.loads(line)
                workdir, env = str(request["workdir"]), dict(request["env"])
            except (ValueError, KeyError, TypeError):
                sock.sendall(b"error")
                continue
            _fork_worker(sock, workdir, {str(k): str(v) for k, v in env.items()}, entry)


def _fork_worker(sock: socket.socket, workdir: str, env: dict[str, str], entry: WorkerMain) -> None:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    runner = os.getppid()
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            sock.close()
            os.close(to_child_w)
            os.close(from_child_r)
            os.setpgid(0, 0)  # its own group, in the box's session (setsid is refused)
            keep_process_group()  # which it and all it forks keep: the broker kills it at once
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.chdir(workdir)
            os.environ.clear()
            os.environ.update(env)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            code = entry([str(to_child_r), str(from_child_w), str(runner)])
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(to_child_r)
    os.close(from_child_w)
    try:
        socket.send_fds(sock, [str(pid).encode()], [from_child_r, to_child_w])
    finally:
        os.close(from_child_r)
        os.close(to_child_w)
