"""Landlock, the Linux security module that lets a process take away its own access.

Three system calls (``landlock_create_ruleset``, ``landlock_add_rule``,
``landlock_restrict_self``) called through ctypes: a ruleset names the kinds of access it
*handles*; every handled access is then denied except where a rule allows it beneath a path (or
on a TCP port). Scopes (ABI ≥ 6) keep signals and abstract UNIX sockets inside the domain. The
restriction holds for root too, survives ``fork`` and ``execve``, and cannot be lifted.

Reference: the kernel's ``include/uapi/linux/landlock.h`` and ``Documentation/userspace-api/
landlock.rst``.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

SYS_CREATE_RULESET = 444  # the same number on every architecture
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2
PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights, with the ABI version that introduced each.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

#: Rights that make sense on a file (not a directory); a rule on a file may grant only these.
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_READ_FILE | FS_READ_DIR
WRITE = (
    FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK
    | FS_MAKE_FIFO | FS_MAKE_SYM | FS_REFER | FS_TRUNCATE
)  # fmt: skip


class LandlockError(OSError):
    """Landlock is missing here, or refused a ruleset."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


def _call(*args: object) -> int:
    result = _libc.syscall(*args)
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, os.strerror(err))
    return int(result)


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 when Landlock is missing or disabled."""
    try:
        return _call(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                     ctypes.c_uint32(CREATE_RULESET_VERSION))  # fmt: skip
    except LandlockError as exc:
        if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
            return 0
        raise


def handled_fs(abi: int) -> int:
    """Every filesystem right the given ABI knows (all of them are handled, so denied by default)."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def set_no_new_privs() -> None:
    """Forbid this process and its children from gaining privileges through ``execve``."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"PR_SET_NO_NEW_PRIVS: {os.strerror(err)}")


class Ruleset:
    """A Landlock ruleset being built: rules are added, then :meth:`restrict_self` applies it."""

    def __init__(self, abi: int, *, tcp: bool = True, scopes: bool = True) -> None:
        if abi < 1:
            raise LandlockError(errno.EOPNOTSUPP, "Landlock is not available")
        self.abi = abi
        self.fs = handled_fs(abi)
        net = NET_BIND_TCP | NET_CONNECT_TCP if tcp and abi >= 4 else 0
        scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if scopes and abi >= 6 else 0
        attr = _RulesetAttr(self.fs, net, scoped)
        size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16  # older kernels know 2 fields
        self.handles_net = bool(net)
        self.scoped = bool(scoped)
        self.fd = _call(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr),
                        ctypes.c_size_t(size), ctypes.c_uint32(0))  # fmt: skip
        self.paths: list[tuple[str, int]] = []

    def allow(self, path: str, rights: int) -> bool:
        """Allow ``rights`` beneath ``path``; False (and nothing added) if it does not exist."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not os.path.isdir(path):
                rights &= FILE_RIGHTS
            rights &= self.fs
            if not rights:
                return False
            attr = _PathBeneathAttr(rights, fd)
            _call(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(self.fd),
                  ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(attr), ctypes.c_uint32(0))  # fmt: skip
        finally:
            os.close(fd)
        self.paths.append((path, rights))
        return True

    def allow_port(self, port: int, rights: int) -> None:
        """Allow ``rights`` (bind or connect) on one TCP port."""
        if not self.handles_net:
            return
        attr = _NetPortAttr(rights, port)
        _call(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(self.fd), ctypes.c_int(RULE_NET_PORT),
              ctypes.byref(attr), ctypes.c_uint32(0))  # fmt: skip

    def allow_all(self, paths: Iterable[str], rights: int) -> None:
        """Allow ``rights`` beneath each path that exists."""
        for path in paths:
            self.allow(path, rights)

    def restrict_self(self) -> None:
        """Apply the ruleset to this thread and everything it starts from now on."""
        try:
            set_no_new_privs()
            _call(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(self.fd), ctypes.c_uint32(0))
        finally:
            os.close(self.fd)
