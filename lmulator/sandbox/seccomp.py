"""A seccomp filter, written as classic BPF, that allows the system calls a cell needs and
refuses every other one.

It is an **allow-list** (as Docker's default profile is): a call the filter does not name is
refused, so a call Linux adds next year is refused too. Calls newer than the list
(:data:`.syscalls.REVIEWED_UP_TO`) answer ``ENOSYS``, as on an older kernel, so the C library
falls back to the call it knew before; every other refusal answers ``EPERM`` and the process
lives on to report it. Calls made through another ABI (32-bit ``int 0x80``, x32) are refused.

Allowed as they are: files (Landlock decides which), memory, threads, time, polling, signals
(Landlock's scope keeps them inside the box where the kernel has ABI 6), and sockets that
already exist. Allowed with their arguments checked (:data:`CHECKED`):

* **calls that change a process act only on the caller**: ``prlimit64``, ``sched_set*``,
  ``setpriority`` and ``ioprio_set`` must name pid 0 (and, for the last two, a process, not a
  group or a user); the calls that only read scheduling (``sched_get*``, ``getpriority``,
  ``ioprio_get``) take any pid, as the C library asks them with a thread's id, and
  ``sched_setscheduler``/``sched_setparam``/``sched_setaffinity`` naming another pid (the C
  library names a thread by its id) succeed without doing anything; and **the caller may
  lower its own priority, never raise it**: no real-time scheduling policy or I/O class, no
  negative nice value (``sched_setattr`` is refused: its policy is behind a pointer), no
  ``mlock``/``mlockall``; ``sync`` (every file system of the machine) is refused too;
* ``clone`` without namespace flags or ``CLONE_PARENT``; ``clone3`` answers ``ENOSYS`` so the C
  library falls back to ``clone``, whose flags a filter can read;
* ``socketpair`` of connected ``AF_UNIX`` stream or seqpacket sockets only (no datagrams);
  ``sendto`` with no address and ``sendto``/``sendmsg`` without ``MSG_FASTOPEN`` (a stream
  socket refuses an address itself), so nothing is sent to an address: no new socket of any
  family (``socket``, ``connect`` are not allowed), no datagram to a pathname socket outside;
* ``ioctl`` with the terminal and descriptor requests Python uses (:data:`IOCTLS`), not file
  flags (``FS_IOC_SETFLAGS``: immutable, append-only) or terminal injection (``TIOCSTI``);
* ``prctl`` with the options Python and its libraries use (:data:`PRCTL_OPTIONS`).

Refused by omission, among others: ``execve`` (Landlock refuses it too), ``ptrace`` and
``process_vm_*``, ``setsid`` (every process of the box stays in its session, which the broker
ends with it), ``bind`` and ``listen`` (the kernel binds its ports before the filter; a socket
pair bound to an abstract name could take a name a program outside expects), System V IPC and POSIX message queues, mounts, namespaces, keyrings, BPF,
``io_uring``, ``userfaultfd``, changes to a file's mode, owner, extended attributes or flags
(``chmod``, ``chown``, ``setxattr``, ``file_setattr``), clocks, and modules.

One exception is Linux's own: on x86_64 it lets ``uretprobe`` and ``uprobe`` (335, 336) past
every seccomp filter; outside the trampoline of a probe an administrator set, they only fail
(``ENXIO``) or kill the caller (``SIGILL``) (:data:`PASSTHROUGH`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .syscalls import AARCH64, REVIEWED_UP_TO, X86_64

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGT_K = 0x25
_JGE_K = 0x35
_JSET_K = 0x45
_AND_K = 0x54
_RET_K = 0x06
_JA = 0x05  # unconditional jump by k

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
DENY = RET_ERRNO | errno.EPERM
TOO_NEW = RET_ERRNO | errno.ENOSYS

_OFF_NR = 0
_OFF_ARCH = 4


def _arg_lo(n: int) -> int:
    """Offset of the low 32 bits of argument ``n`` in ``struct seccomp_data`` (little-endian)."""
    return 16 + 8 * n


def _arg_hi(n: int) -> int:
    return 20 + 8 * n


#: Terminal ioctls that push input into a terminal (TIOCSTI) or drive a virtual console
#: (TIOCLINUX): never allowed (they are not in :data:`IOCTLS`).
TERMINAL_INJECTION = (0x5412, 0x541C)

#: ioctl requests allowed: terminal modes and size (TCGETS, TCSETS, TCSETSW, TCSETSF,
#: TIOCGWINSZ, TIOCGPGRP), bytes waiting (FIONREAD), non-blocking and close-on-exec (FIONBIO,
#: FIONCLEX, FIOCLEX), and reading a file's flags (FS_IOC_GETFLAGS).
IOCTLS = (0x5401, 0x5402, 0x5403, 0x5404, 0x5413, 0x540F, 0x541B, 0x5421, 0x5450, 0x5451,
          0x80086601)  # fmt: skip

#: prctl options allowed: parent-death signal (1, 2), dumpable (3, 4), thread name (15, 16),
#: seccomp (21, 22), capability bounding set read/drop (23, 24), child subreaper (36, 37),
#: no_new_privs (38, 39), naming anonymous memory (PR_SET_VMA).
PRCTL_OPTIONS = (1, 2, 3, 4, 15, 16, 21, 22, 23, 24, 36, 37, 38, 39, 0x53564D41)

#: Namespace flags of clone(2) (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET)
#: and CLONE_PARENT (a child that would belong to the broker, not to the box).
CLONE_REFUSED = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
    | 0x00008000
)  # fmt: skip
CLONE_NAMESPACES = CLONE_REFUSED & ~0x00008000

AF_UNIX = 1
SOCK_TYPE_MASK = 0xF
SOCKETPAIR_TYPES = (1, 5)  # SOCK_STREAM, SOCK_SEQPACKET
MSG_FASTOPEN = 0x20000000
PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1
NORMAL_POLICIES = (0, 3, 5)  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE: not FIFO, RR or DEADLINE
RESET_ON_FORK = 0x40000000
IOPRIO_CLASS_MASK = 0xE000
IOPRIO_CLASSES = (0x0000, 0x4000, 0x6000)  # none, best effort, idle: not real time (0x2000)

#: Calls allowed as they are. The first ones are the most frequent (the filter tests in order).
ALLOWED = (
    "read", "write", "futex", "epoll_wait", "epoll_pwait", "poll", "ppoll", "recvfrom", "close",
    "openat", "fstat", "newfstatat", "statx", "lseek", "mmap", "munmap", "mprotect", "brk",
    "madvise", "getpid", "gettid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "fcntl",
    "getdents64", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat2", "close_range", "creat", "stat", "lstat", "statfs", "fstatfs",
    "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getcwd", "chdir",
    "fchdir", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat",
    "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "truncate", "ftruncate",
    "fallocate", "fsync", "fdatasync", "syncfs", "sync_file_range", "fadvise64",
    "readahead", "flock", "dup", "dup2", "dup3", "pipe", "pipe2", "sendfile", "copy_file_range",
    "splice", "tee", "vmsplice", "utime", "utimes", "utimensat", "futimesat", "umask", "getxattr",
    "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "mremap", "mincore", "msync",
    "munlock", "munlockall", "membarrier", "memfd_create",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "get_mempolicy", "set_mempolicy", "mbind",
    "map_shadow_stack", "fork", "vfork", "exit", "exit_group", "wait4", "waitid", "getppid",
    "getpgid", "getpgrp", "getsid", "setpgid", "getuid", "geteuid", "getgid", "getegid",
    "getgroups", "getresuid", "getresgid", "capget", "kill", "tkill", "tgkill", "rt_sigqueueinfo",
    "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal", "arch_prctl", "set_tid_address",
    "set_robust_list", "rseq", "sched_yield", "sched_get_priority_max", "sched_get_priority_min",
    "getrlimit", "setrlimit", "getrusage", "times", "uname", "sysinfo", "getcpu", "getrandom",
    "set_thread_area", "get_thread_area", "clock_gettime", "clock_getres", "clock_nanosleep",
    "gettimeofday", "time", "nanosleep", "alarm", "getitimer", "setitimer", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "select", "pselect6", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "futex_waitv",
    "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "pause",
    "restart_syscall", "accept", "accept4", "getsockname", "getpeername",
    "setsockopt", "getsockopt", "recvmsg", "recvmmsg", "shutdown", "seccomp",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
)  # fmt: skip

#: Calls that name a process by pid in their first argument: allowed only for pid 0 (the caller).
SELF_ONLY = ("prlimit64", "sched_setaffinity", "sched_setparam")

#: Calls that read how a process is scheduled: allowed for any pid. The C library asks them with
#: a thread's own id (pthread_getschedparam: libzmq aborts a new thread when it fails); what they
#: tell of another process, ``/proc/<pid>/stat`` tells anyone.
SCHEDULING_READS = (
    "sched_getaffinity", "sched_getparam", "sched_getscheduler", "sched_getattr",
    "sched_rr_get_interval", "getpriority", "ioprio_get",
)  # fmt: skip

#: Calls allowed with their arguments checked (see the module's docstring).
CHECKED = (
    *SELF_ONLY, "sched_setscheduler", "setpriority", "ioprio_set", "clone", "clone3",
    "ioctl", "prctl", "socketpair", "sendto", "sendmsg",
)  # fmt: skip

#: machine → (audit architecture, syscall table, lowest number of a foreign ABI or None)
_ARCHES = {
    "x86_64": (0xC000003E, X86_64, 0x40000000),  # x32 calls have bit 30 set
    "aarch64": (0xC00000B7, AARCH64, None),
}
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}

#: Calls Linux lets past every filter, by machine (uretprobe and uprobe): not the filter's doing.
PASSTHROUGH = {"x86_64": (335, 336)}

Instruction = tuple[int, int, int, int]


class SeccompError(OSError):
    """seccomp is missing here, or refused the filter."""


def available() -> bool:
    """Whether this machine's architecture has a syscall table here."""
    return platform.machine() in _ARCHES


def _stmt(code: int, k: int) -> Instruction:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> Instruction:
    return (code, jt, jf, k)


@dataclass(frozen=True)
class Arg:
    """A condition on one argument of a call (all conditions given must hold)."""

    n: int  # which argument, 0 to 5
    equals: int | None = None  # all 64 bits equal this
    low_in: tuple[int, ...] = ()  # the low 32 bits, masked by `mask`, are one of these
    mask: int = 0xFFFFFFFF
    clear: int = 0  # none of these bits is set in the low 32 bits
    below: int | None = None  # the low 32 bits, unsigned, are less than this


_DENY_LABEL = -1


def _block(args: Iterable[Arg]) -> list[Instruction]:
    """Instructions that allow the call when every condition holds and refuse it otherwise;
    they end in a return. Jumps are written with absolute targets, then made relative."""
    code: list[tuple[int, int, int, int]] = []  # (opcode, k, true target, false target)

    def emit(op: int, k: int = 0, jt: int = 0, jf: int = 0) -> int:
        code.append((op, k, jt, jf))
        return len(code) - 1

    for arg in args:
        if arg.equals is not None:
            for offset, value in ((_arg_lo(arg.n), arg.equals & 0xFFFFFFFF),
                                  (_arg_hi(arg.n), arg.equals >> 32)):  # fmt: skip
                emit(_LD_W_ABS, offset)
                at = emit(_JEQ_K, value)
                code[at] = (_JEQ_K, value, at + 1, _DENY_LABEL)
        if arg.low_in:
            emit(_LD_W_ABS, _arg_lo(arg.n))
            if arg.mask != 0xFFFFFFFF:
                emit(_AND_K, arg.mask)
            tests = [emit(_JEQ_K, value) for value in arg.low_in]
            after = len(code)
            for i, at in enumerate(tests):
                miss = at + 1 if i + 1 < len(tests) else _DENY_LABEL
                code[at] = (_JEQ_K, arg.low_in[i], after, miss)
        if arg.clear:
            emit(_LD_W_ABS, _arg_lo(arg.n))
            at = emit(_JSET_K, arg.clear)
            code[at] = (_JSET_K, arg.clear, _DENY_LABEL, at + 1)
        if arg.below is not None:
            emit(_LD_W_ABS, _arg_lo(arg.n))
            at = emit(_JGE_K, arg.below)
            code[at] = (_JGE_K, arg.below, _DENY_LABEL, at + 1)
    emit(_RET_K, RET_ALLOW)
    deny_at = emit(_RET_K, DENY)
    out: list[Instruction] = []
    for i, (op, k, jt, jf) in enumerate(code):
        if op & 0x07 != 0x05:
            out.append(_stmt(op, k))
            continue
        rel = [(deny_at if t == _DENY_LABEL else t) - i - 1 for t in (jt, jf)]
        if not all(0 <= r <= 255 for r in rel):
            raise ValueError("a filter block is too long for classic BPF jumps")
        out.append(_jump(op, k, rel[0], rel[1]))
    return out


#: Scheduling changes the C library makes with a thread's own id (libzmq's new threads call
#: pthread_setschedparam and abort when it fails): naming any pid but 0, they succeed and do
#: nothing, since a filter cannot tell the caller's threads from another process.
NOOP_FOR_OTHERS = ("sched_setscheduler", "sched_setparam", "sched_setaffinity")
NOOP = RET_ERRNO | 0  # the call returns 0 without running


def _checked(name: str) -> list[Instruction]:
    """The block of a checked call: its rules, and for :data:`NOOP_FOR_OTHERS` pid 0 first."""
    block = _block(RULES[name])
    if name not in NOOP_FOR_OTHERS:
        return block
    # pid (64 bits) 0: on to the rules; anything else: the no-op at the end
    return [
        _stmt(_LD_W_ABS, _arg_lo(0)),
        _jump(_JEQ_K, 0, 0, len(block) + 2),
        _stmt(_LD_W_ABS, _arg_hi(0)),
        _jump(_JEQ_K, 0, 0, len(block)),
        *block,
        _stmt(_RET_K, NOOP),
    ]


#: The argument conditions of each checked call (see the module's docstring).
RULES: dict[str, tuple[Arg, ...]] = {
    **{name: (Arg(0, equals=0),) for name in SELF_ONLY},
    # a process may lower its own priority, never raise it above the normal one (as root,
    # real-time scheduling or a negative nice value would starve the machine, the broker too)
    "sched_setscheduler": (
        Arg(0, equals=0),
        Arg(1, low_in=NORMAL_POLICIES, mask=0xFFFFFFFF & ~RESET_ON_FORK),
    ),
    "setpriority": (Arg(0, equals=PRIO_PROCESS), Arg(1, equals=0), Arg(2, below=20)),
    "ioprio_set": (
        Arg(0, equals=IOPRIO_WHO_PROCESS),
        Arg(1, equals=0),
        Arg(2, low_in=IOPRIO_CLASSES, mask=IOPRIO_CLASS_MASK),
    ),  # fmt: skip
    "clone": (Arg(0, clear=CLONE_REFUSED),),
    "ioctl": (Arg(1, low_in=IOCTLS),),
    "prctl": (Arg(0, low_in=PRCTL_OPTIONS),),
    "socketpair": (Arg(0, low_in=(AF_UNIX,)), Arg(1, low_in=SOCKETPAIR_TYPES, mask=SOCK_TYPE_MASK)),
    "sendto": (Arg(4, equals=0), Arg(3, clear=MSG_FASTOPEN)),
    "sendmsg": (Arg(2, clear=MSG_FASTOPEN),),
}


#: Calls a leaf of the search tests one by one.
_LEAF = 4


def _search(items: Sequence[tuple[int, list[Instruction]]]) -> list[Instruction]:
    """A binary search over call numbers (sorted), each leading to its block (which ends in a
    return); a number not among them is refused. About ten tests a call, wherever it is on the
    list; an unconditional jump (32-bit offset) reaches the upper half, however long the lower."""
    if len(items) <= _LEAF:
        out: list[Instruction] = []
        for nr, block in items:
            out += [_jump(_JEQ_K, nr, 0, len(block)), *block]
        return [*out, _stmt(_RET_K, DENY)]
    mid = len(items) // 2
    lower, upper = _search(items[:mid]), _search(items[mid:])
    return [_jump(_JGE_K, items[mid][0], 0, 1), _stmt(_JA, len(lower)), *lower, *upper]


def build_filter(machine: str | None = None) -> list[Instruction]:
    """The filter program for a machine, as (code, jt, jf, k) instructions."""
    arch, table, foreign = _ARCHES[machine or platform.machine()]
    prog: list[Instruction] = [
        _stmt(_LD_W_ABS, _OFF_ARCH),
        _jump(_JEQ_K, arch, 1, 0),
        _stmt(_RET_K, DENY),  # another ABI: refused
        _stmt(_LD_W_ABS, _OFF_NR),
    ]
    if foreign is not None:
        prog += [_jump(_JGE_K, foreign, 0, 1), _stmt(_RET_K, DENY)]
    prog += [_jump(_JGT_K, REVIEWED_UP_TO, 0, 1), _stmt(_RET_K, TOO_NEW)]
    actions: dict[int, list[Instruction]] = {
        table[n]: [_stmt(_RET_K, RET_ALLOW)] for n in (*ALLOWED, *SCHEDULING_READS) if n in table
    }
    for name in CHECKED:
        if name in table:  # clone3: ENOSYS, the C library falls back to clone()
            actions[table[name]] = [_stmt(_RET_K, TOO_NEW)] if name == "clone3" else _checked(name)
    prog += _search(sorted(actions.items()))  # what the list does not name is refused
    if len(prog) > 4096:
        raise ValueError("the filter is longer than the kernel accepts")
    return prog


#: clone(2)'s flag for a thread of the caller's process (which dies with it).
CLONE_THREAD = 0x00010000


def _stacked_start(machine: str | None) -> tuple[dict[str, int], list[Instruction]]:
    """A stacked filter's syscall table and first instructions: another ABI refused, the call's
    number loaded."""
    arch, table, foreign = _ARCHES[machine or platform.machine()]
    prog: list[Instruction] = [
        _stmt(_LD_W_ABS, _OFF_ARCH),
        _jump(_JEQ_K, arch, 1, 0),
        _stmt(_RET_K, DENY),
        _stmt(_LD_W_ABS, _OFF_NR),
    ]
    if foreign is not None:
        prog += [_jump(_JGE_K, foreign, 0, 1), _stmt(_RET_K, DENY)]
    return table, prog


def build_no_new_processes(machine: str | None = None) -> list[Instruction]:
    """A second filter, stacked on the first in the runner (the kernel, the CLI's program): it
    may start threads, never processes (``fork``, ``vfork``, ``clone`` without
    ``CLONE_THREAD``), so a program run there cannot start processes that outrun the broker's
    end of the box by forking anew (a pid that changes faster than ``/proc`` is scanned). The
    zygote and its isolated workers keep ``fork`` (workers fork their snapshots)."""
    table, prog = _stacked_start(machine)
    for name in ("fork", "vfork"):
        if name in table:
            prog += [_jump(_JEQ_K, table[name], 0, 1), _stmt(_RET_K, DENY)]
    if "clone3" in table:  # its flags are behind a pointer: ENOSYS, the C library uses clone
        prog += [_jump(_JEQ_K, table["clone3"], 0, 1), _stmt(_RET_K, TOO_NEW)]
    prog += [
        _jump(_JEQ_K, table["clone"], 0, 4),  # any other call: the last ALLOW
        _stmt(_LD_W_ABS, _arg_lo(0)),
        _jump(_JSET_K, CLONE_THREAD, 0, 1),
        _stmt(_RET_K, RET_ALLOW),  # a thread
        _stmt(_RET_K, DENY),  # a process
        _stmt(_RET_K, RET_ALLOW),  # the first filter decides every other call
    ]
    return prog


def build_no_new_groups(machine: str | None = None) -> list[Instruction]:
    """A filter stacked on an isolated worker once it leads its own process group: no
    ``setpgid`` (nor ``setsid``), so it and every process it forks (its snapshots, and whatever
    a program forks there) stay in that group, which the broker kills at once at the box's end
    (a signal to a group reaches a child being forked too)."""
    table, prog = _stacked_start(machine)
    for name in ("setpgid", "setsid"):  # setsid: refused by the allow-list too
        if name in table:
            prog += [_jump(_JEQ_K, table[name], 0, 1), _stmt(_RET_K, DENY)]
    return [*prog, _stmt(_RET_K, RET_ALLOW)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(prog: list[Instruction] | None = None) -> None:
    """Install a filter (default: the allow-list) on every thread of this process; needs
    ``no_new_privs`` first."""
    if not available():
        raise SeccompError(errno.EOPNOTSUPP, f"no syscall table for {platform.machine()}")
    prog = build_filter() if prog is None else prog
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(
        ctypes.c_long(_SYS_SECCOMP[platform.machine()]),
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),  # every thread, not only this one
        ctypes.byref(fprog),
    )
    if result != 0:
        err = ctypes.get_errno() if result < 0 else errno.EBUSY
        raise SeccompError(err, f"seccomp: {os.strerror(err)}")
