"""A seccomp filter, written as classic BPF, that takes away system calls a cell never needs.

Denied calls fail with ``EPERM`` (the process lives on and reports the error): debugging and
reading other processes (``ptrace``, ``process_vm_*``, ``pidfd_getfd``), kernel attack surface
(``bpf``, ``io_uring_*``, ``userfaultfd``, ``perf_event_open``, keyrings), mounts, namespaces
(``unshare``, ``setns``, ``clone`` with namespace flags; ``clone3`` answers ``ENOSYS`` so the C
library falls back to ``clone``, whose flags can be read), modules, reboot, clocks, host names,
file handles (``open_by_handle_at``), a file's mode, owner and extended attributes (``chmod``,
``chown``, ``setxattr`` and their variants: Landlock does not cover metadata), terminal
injection through an inherited terminal (``TIOCSTI``, ``TIOCLINUX``), and **new
sockets of any family** (``socketpair`` stays,
and sockets opened before the filter keep working). Calls made through another ABI (32-bit
``int 0x80``, x32) are refused outright.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_JGE_K = 0x35
_RET_K = 0x06

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000

_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0 = 16  # low 32 bits of args[0] on little-endian machines
_OFF_ARG1 = 24  # low 32 bits of args[1]

#: Terminal ioctls that push input into a terminal (TIOCSTI) or drive a virtual console
#: (TIOCLINUX): through an inherited terminal they would type commands into the user's shell.
TERMINAL_INJECTION = (0x5412, 0x541C)

#: Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NAMESPACES = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "perf_event_open",
    "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl",
    "add_key", "request_key", "mount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "pivot_root", "chroot", "unshare", "setns",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "open_by_handle_at", "name_to_handle_at", "acct", "syslog", "iopl",
    "ioperm", "quotactl", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
    "sethostname", "setdomainname", "vhangup", "fanotify_init", "lookup_dcookie", "socket",
    # Landlock (ABI <= 7) does not cover a file's metadata: as root, these would change the
    # mode, owner or extended attributes of any file on the machine, outside the box too.
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "setxattrat", "removexattrat",
)  # fmt: skip

_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
    "kcmp": 312, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 250, "add_key": 248,
    "request_key": 249, "mount": 165, "umount2": 166, "move_mount": 429, "open_tree": 428,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
    "reboot": 169, "swapon": 167, "swapoff": 168, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "acct": 163, "syslog": 103, "iopl": 172, "ioperm": 173,
    "quotactl": 179, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
    "clock_adjtime": 305, "sethostname": 170, "setdomainname": 171, "vhangup": 153,
    "fanotify_init": 300, "lookup_dcookie": 212, "socket": 41, "clone": 56, "clone3": 435,
    "ioctl": 16, "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
    "lchown": 94, "fchownat": 260, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "setxattrat": 463,
    "removexattrat": 466,
}  # fmt: skip

_AARCH64 = {
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438,
    "kcmp": 272, "perf_event_open": 241, "bpf": 280, "userfaultfd": 282, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 219, "add_key": 217,
    "request_key": 218, "mount": 40, "umount2": 39, "move_mount": 429, "open_tree": 428,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268, "init_module": 105,
    "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
    "reboot": 142, "swapon": 224, "swapoff": 225, "open_by_handle_at": 265,
    "name_to_handle_at": 264, "acct": 89, "syslog": 116, "quotactl": 60, "settimeofday": 170,
    "clock_settime": 112, "adjtimex": 171, "clock_adjtime": 266, "sethostname": 161,
    "setdomainname": 162, "vhangup": 58, "fanotify_init": 262, "lookup_dcookie": 18,
    "socket": 198, "clone": 220, "clone3": 435, "ioctl": 29,
    "fchmod": 52, "fchmodat": 53, "fchmodat2": 452, "fchownat": 54, "fchown": 55, "setxattr": 5,
    "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
    "setxattrat": 463, "removexattrat": 466,
}  # fmt: skip

#: machine → (audit architecture, syscall table, lowest number of a foreign ABI or None)
_ARCHES = {
    "x86_64": (0xC000003E, _X86_64, 0x40000000),  # x32 calls have bit 30 set
    "aarch64": (0xC00000B7, _AARCH64, None),
}
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}


class SeccompError(OSError):
    """seccomp is missing here, or refused the filter."""


def available() -> bool:
    """Whether this machine's architecture has a syscall table here."""
    return platform.machine() in _ARCHES


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def build_filter(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter program for a machine, as (code, jt, jf, k) instructions."""
    arch, table, foreign = _ARCHES[machine or platform.machine()]
    deny = RET_ERRNO | errno.EPERM
    prog: list[tuple[int, int, int, int]] = [
        _stmt(_LD_W_ABS, _OFF_ARCH),
        _jump(_JEQ_K, arch, 1, 0),
        _stmt(_RET_K, RET_ERRNO | errno.EPERM),  # another ABI: refused
        _stmt(_LD_W_ABS, _OFF_NR),
    ]
    if foreign is not None:
        prog += [_jump(_JGE_K, foreign, 0, 1), _stmt(_RET_K, deny)]
    numbers = sorted({table[name] for name in DENIED if name in table})
    for nr in numbers:
        prog += [_jump(_JEQ_K, nr, 0, 1), _stmt(_RET_K, deny)]
    prog += [  # ioctl: refuse terminal injection, allow the rest
        _jump(_JEQ_K, table["ioctl"], 0, 5),
        _stmt(_LD_W_ABS, _OFF_ARG1),
        _jump(_JEQ_K, TERMINAL_INJECTION[0], 1, 0),
        _jump(_JEQ_K, TERMINAL_INJECTION[1], 0, 1),
        _stmt(_RET_K, deny),
        _stmt(_RET_K, RET_ALLOW),
    ]
    prog += [
        _jump(_JEQ_K, table["clone3"], 0, 1),
        _stmt(_RET_K, RET_ERRNO | errno.ENOSYS),  # the C library falls back to clone()
        _jump(_JEQ_K, table["clone"], 0, 3),
        _stmt(_LD_W_ABS, _OFF_ARG0),
        _jump(_JSET_K, CLONE_NAMESPACES, 0, 1),
        _stmt(_RET_K, deny),
        _stmt(_RET_K, RET_ALLOW),
    ]
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Install the filter on every thread of this process; needs ``no_new_privs`` first."""
    if not available():
        raise SeccompError(errno.EOPNOTSUPP, f"no syscall table for {platform.machine()}")
    prog = build_filter()
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
