"""System calls at the box's edges: calls not on the allow-list, calls that name another process,
System V IPC, datagrams to addresses, what ``/proc`` tells, and processes that would outlive it."""

import ctypes
import os
import random
import socket
import threading

import pytest

from lmulator.sandbox import seccomp
from lmulator.sandbox.syscalls import REVIEWED_UP_TO

from .os_attack import run_cli

FAMILY = "syscalls"

_LIBC = "import ctypes, ctypes.util\nlibc = ctypes.CDLL(None, use_errno=True)\n"
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30}.get(os.uname().machine, 251)
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}.get(os.uname().machine, 314)

PAYLOADS = [
    # file_setattr (Linux 6.17): flags (immutable, append-only) on a file outside; a newer call
    # than the allow-list knows, so refused whatever it does
    _LIBC + "r = libc.syscall(469, -100, b'OUTSIDE/notes.txt', None, 0, 0)\n"
    "e = ctypes.get_errno()\nprint('BREACH: file_setattr ran' if r == 0 or e not in (1, 38) else 'held')",
    # open_tree_attr (6.15)
    _LIBC + "r = libc.syscall(467, -100, b'/', 0, None, 0)\n"
    "print('BREACH: open_tree_attr ran' if r >= 0 else 'held')",
    # the same flags through an ioctl on a file opened only for reading
    # (the flags it read are written back unchanged: a success shows, and changes nothing)
    _LIBC + "f = open('/usr/lib/os-release', 'rb')\nflags = ctypes.c_long(0)\n"
    "libc.ioctl(f.fileno(), 0x80086601, ctypes.byref(flags))\n"
    "r = libc.ioctl(f.fileno(), 0x40086602, ctypes.byref(flags))\n"
    "print('BREACH: FS_IOC_SETFLAGS' if r == 0 else 'held')",
    # calls that name another process
    _LIBC
    + "class R(ctypes.Structure):\n    _fields_ = [('cur', ctypes.c_ulong), ('max', ctypes.c_ulong)]\n"
    "old = R()\nr = libc.prlimit(VICTIM, 7, None, ctypes.byref(old))\n"
    "print('BREACH: prlimit64 on another process' if r == 0 else 'held')",
    _LIBC
    + "import os\nclass R(ctypes.Structure):\n    _fields_ = [('cur', ctypes.c_ulong), ('max', ctypes.c_ulong)]\n"
    "new = R(16, 16)\nr = libc.prlimit(os.getppid(), 7, ctypes.byref(new), None)\n"
    "print('BREACH: prlimit64 on the broker' if r == 0 else 'held')",
    _LIBC
    + "r = libc.setpriority(0, VICTIM, 19)\nprint('BREACH: setpriority' if r == 0 else 'held')",
    _LIBC
    + "r = libc.setpriority(2, 0, 19)\nprint('BREACH: setpriority of a user' if r == 0 else 'held')",
    # (naming another pid these succeed and do nothing: what the victim has afterwards tells)
    "import os\nbefore = os.sched_getaffinity(VICTIM)\ntry:\n    os.sched_setaffinity(VICTIM, {0})\n"
    "except OSError:\n    pass\n"
    "print('BREACH: sched_setaffinity' if os.sched_getaffinity(VICTIM) != before else 'held')",
    "import os\ntry:\n    os.sched_setscheduler(VICTIM, os.SCHED_IDLE, os.sched_param(0))\n"
    "except OSError:\n    pass\n"
    "print('BREACH: sched_setscheduler' if os.sched_getscheduler(VICTIM) == os.SCHED_IDLE else 'held')",
    _LIBC + f"r = libc.syscall({_IOPRIO_SET}, 1, VICTIM, (3 << 13))\n"
    "print('BREACH: ioprio_set' if r == 0 else 'held')",
    # raising its own priority starves the machine (as root): real time, negative nice, locking
    "import os\ntry:\n    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(99))\n"
    "    print('BREACH: real-time scheduling')\nexcept OSError:\n    print('held')",
    _LIBC + "r = libc.syscall(SETATTR, 0, ctypes.create_string_buffer(56), 0)\n"
    "print('BREACH: sched_setattr' if r == 0 else 'held')",
    _LIBC + "r = libc.setpriority(0, 0, -20)\nprint('BREACH: nice -20' if r == 0 else 'held')",
    _LIBC + f"r = libc.syscall({_IOPRIO_SET}, 1, 0, (1 << 13) | 7)\n"
    "print('BREACH: real-time I/O class' if r == 0 else 'held')",
    _LIBC + "r = libc.mlockall(3)\nprint('BREACH: mlockall' if r == 0 else 'held')",
    # a name a program outside expects, taken by a socket pair bound to it
    "import socket\na, b = socket.socketpair()\ntry:\n    a.bind('\\0lmulator-squat')\n"
    "    print('BREACH: bound an abstract name')\nexcept OSError:\n    print('held')",
    # System V shared memory (the test plants a segment holding the secret; key SHM_KEY)
    _LIBC + "libc.shmat.restype = ctypes.c_void_p\nshm = libc.shmget(SHM_KEY, 0, 0)\n"
    "if shm >= 0:\n    p = libc.shmat(shm, None, 0)\n"
    "    print('BREACH: shm', ctypes.string_at(p, 40) if p not in (None, 2**64 - 1) else shm)\n"
    "else:\n    print('held')",
    _LIBC + "r = libc.shmget(0, 4096, 0o1600)\nprint('BREACH: shmget' if r >= 0 else 'held')",
    _LIBC + "r = libc.msgget(0, 0o1600)\nprint('BREACH: msgget' if r >= 0 else 'held')",
    _LIBC + "r = libc.semget(0, 1, 0o1600)\nprint('BREACH: semget' if r >= 0 else 'held')",
    # a datagram to a pathname socket outside, through a socket pair
    "import socket\ntry:\n    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "    a.sendto(b'BREACH', 'DGRAM_PATH')\nexcept OSError as e:\n    print('held', e)",
    "import socket\na, b = socket.socketpair()\ntry:\n    a.sendto(b'BREACH', 'DGRAM_PATH')\n"
    "except OSError as e:\n    print('held', e)",
    "import socket, array\na, b = socket.socketpair()\ntry:\n"
    "    a.sendmsg([b'BREACH'], [], 0, 'DGRAM_PATH')\nexcept OSError as e:\n    print('held', e)",
    # what /proc lists of the machine's sockets
    "for p in ('/proc/net/unix', '/proc/net/tcp', '/proc/self/net/unix', '/proc/thread-self/net/tcp'):\n"
    "    try:\n        print('BREACH: read', p, len(open(p).read()))\n    except OSError:\n"
    "        print('held')",
    "import threading\nt = threading.get_native_id()\n"
    "try:\n    print('BREACH: read', len(open(f'/proc/self/task/{t}/net/unix').read()))\n"
    "except OSError:\n    print('held')",
]

#: Every way to start a process; a thread still starts. The runner starts no process, so a
#: program there cannot outrun the box's end by forking anew (a process that forks and exits in a
#: loop changes its pid faster than a scan of /proc) and write after the sweep.
NO_NEW_PROCESSES = """import ctypes, os, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
ran = []
threading.Thread(target=lambda: ran.append(1)).start()
print('thread ran' if ran or threading.enumerate() else 'no thread')
def held(what, call):
    try:
        r = call()
    except OSError as exc:
        print(what, 'refused', exc.errno)
        return
    if r == 0:
        os._exit(0)  # the child, had there been one
    print(what, 'refused', ctypes.get_errno()) if r == -1 else print('BREACH:', what, r)
held('fork', os.fork)
held('subprocess', lambda: subprocess.run(['true']).returncode or 1)
NR = {'x86_64': (56, 58), 'aarch64': (220, None)}[os.uname().machine]
held('clone', lambda: libc.syscall(NR[0], 17, 0, 0, 0, 0))  # SIGCHLD: a process
if NR[1] is not None:
    held('vfork', lambda: libc.syscall(NR[1]))
"""


def test_the_runner_starts_threads_but_no_process(target):
    output = run_cli(target, NO_NEW_PROCESSES)
    assert "BREACH" not in output, output
    assert "thread ran" in output
    refused = [line.split()[0] for line in output.splitlines() if " refused " in line]
    assert refused[:3] == ["fork", "subprocess", "clone"], output


@pytest.fixture(scope="module")
def shm_segment(target):
    """A System V segment outside the box, holding the secret; its key."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    key = random.randrange(1 << 20, 1 << 30)
    shm = libc.shmget(key, 4096, 0o1600)
    assert shm >= 0, os.strerror(ctypes.get_errno())
    addr = libc.shmat(shm, None, 0)
    ctypes.memmove(addr, target.secret.encode(), len(target.secret))
    yield key
    libc.shmdt(ctypes.c_void_p(addr))
    libc.shmctl(shm, 0, None)  # IPC_RMID


@pytest.fixture(scope="module")
def dgram(target):
    """A pathname datagram socket outside the box; what it receives."""
    path = str(target.outside / "dgram.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    hits: list[bytes] = []

    def receive() -> None:
        while True:
            try:
                hits.append(srv.recv(100))
            except OSError:
                return

    threading.Thread(target=receive, daemon=True).start()
    yield path, hits
    srv.close()


def fill(payload: str, key: int, path: str) -> str:
    """The payload with the segment's key and the datagram socket's path."""
    return (
        payload.replace("SHM_KEY", str(key))
        .replace("DGRAM_PATH", path)
        .replace("SETATTR", str(_SCHED_SETATTR))
    )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_cli_runner_reaches_nothing_through_system_calls(target, shm_segment, dgram, payload):
    path, hits = dgram
    output = run_cli(target, fill(payload, shm_segment, path))
    assert target.breaches(output) == [], output
    assert hits == [], "a datagram reached a socket outside the box"
    assert "held" in output, output  # the payload ran and was refused, not broken


def test_every_call_not_on_the_list_is_refused(target):
    """The general form: each call number the filter does not allow answers EPERM or ENOSYS."""
    table = {"x86_64": seccomp.X86_64, "aarch64": seccomp.AARCH64}[os.uname().machine]
    named = (*seccomp.ALLOWED, *seccomp.SCHEDULING_READS, *seccomp.CHECKED)
    allowed = {table[n] for n in named if n in table}
    # Linux lets x86_64's uretprobe and uprobe (335, 336) past every filter; outside a probe's
    # trampoline they only fail or kill the caller (seccomp's docstring)
    passthrough = set(seccomp.PASSTHROUGH.get(os.uname().machine, ()))
    numbers = [n for n in range(REVIEWED_UP_TO + 40) if n not in allowed | passthrough]
    payload = (
        _LIBC + "libc.syscall.restype = ctypes.c_long\nbad = []\n"
        f"for n in {numbers!r}:\n"
        "    r = libc.syscall(ctypes.c_long(n), 0, 0, 0, 0, 0, 0)\n"
        "    e = ctypes.get_errno()\n"
        "    if r != -1 or e not in (1, 38):\n        bad.append((n, r, e))\n"
        "print('BREACH: calls not refused', bad) if bad else print('held', len(" + "bad))"
    )
    output = run_cli(target, payload)
    assert target.breaches(output) == [], output
    assert "held 0" in output, output


#: In an isolated worker (which forks its snapshots) a forked process may not leave the worker's
#: process group, which the broker kills at once at the box's end, a child being forked included.
WORKER_GROUP = """import os
group = os.getpgrp()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        os.setpgid(0, 0)
        os.write(w, b'BREACH: left the group')
    except OSError as exc:
        os.write(w, f'setpgid refused {exc.errno}, same group {os.getpgrp() == group}'.encode())
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(r, 200).decode())
"""


def test_an_isolated_workers_processes_stay_in_its_group(target):
    output = run_cli(target, WORKER_GROUP, "--isolate")
    assert "BREACH" not in output, output
    assert "setpgid refused 1, same group True" in output, output
