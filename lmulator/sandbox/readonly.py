"""Code directories inside the workspace, read-only inside the box (a mount namespace).

If the workspace holds a directory this Python imports installed code from (a virtual
environment in the notebook's folder, an editable checkout of lmulator), the box could rewrite
code that runs outside it. The runner, before it confines itself, enters a mount namespace of
its own (as root directly; otherwise with a user namespace that maps only its own uid and gid)
and bind-mounts each such directory read-only onto itself: inside the box it can be read, not
written, and, being a mount point, not renamed or removed. Landlock then forbids the box to
change mounts. Where that cannot be done, the runner refuses to start (:class:`SandboxError`,
one line naming the directory): opening the workspace for writing would let the box rewrite
that code, and silently making the whole workspace read-only would surprise more.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence

from .confine import SandboxError

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 16384, 1 << 18, 1 << 21
#: statvfs flags -> mount flags a read-only remount must keep (the kernel refuses to drop
#: flags it locked when the mount came from another user namespace).
KEPT_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)  # fmt: skip
SYS_MOUNT_SETATTR = 442  # the same number on every architecture
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 1


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]  # fmt: skip


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]  # fmt: skip
    libc.unshare.argtypes = [ctypes.c_int]
    libc.syscall.restype = ctypes.c_long
    return libc


def _fail(what: str, paths: Sequence[str]) -> SandboxError:
    return SandboxError(
        f"the workspace holds {paths[0]}, code this Python runs outside the box, and it could "
        f"not be made read-only inside the box ({what}): open a workspace that does not hold "
        "it, or use the sandbox mode read-only"
    )


def _enter_namespace(libc: ctypes.CDLL, paths: Sequence[str]) -> None:
    """A mount namespace of this process's own (through a user namespace if need be)."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWNS) == 0:
        return
    first = ctypes.get_errno()
    if first != errno.EPERM or libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        raise _fail(f"no mount namespace: {os.strerror(ctypes.get_errno() or first)}", paths)
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
            with open(f"/proc/self/{name}", "w", encoding="ascii") as fh:
                fh.write(text)
    except OSError as exc:
        raise _fail(f"no user namespace: {exc.strerror}", paths) from None


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, flags: int, paths: Sequence[str]
) -> None:
    src = source.encode() if source is not None else None
    if libc.mount(src, target.encode(), None, flags, None) != 0:
        raise _fail(f"mount {target}: {os.strerror(ctypes.get_errno())}", paths)


def make_read_only(paths: Sequence[str]) -> None:
    """Enter a mount namespace in which each of ``paths`` (directories or files) is read-only;
    SandboxError if it cannot be done. Call before Landlock and before any thread starts."""
    if not paths:
        return
    libc = _libc()
    _enter_namespace(libc, paths)
    _mount(libc, None, "/", MS_REC | MS_PRIVATE, paths)  # nothing here reaches the host's mounts
    for path in paths:
        _mount(libc, path, path, MS_BIND | MS_REC, paths)
        attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
        done = libc.syscall(
            ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_long(-100), ctypes.c_char_p(path.encode()),
            ctypes.c_long(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_long(ctypes.sizeof(attr)),
        )  # fmt: skip
        if done != 0:  # before Linux 5.12: the top mount only
            kept = os.statvfs(path).f_flag
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY
            flags |= sum(ms for st, ms in KEPT_FLAGS if kept & st)
            _mount(libc, None, path, flags, paths)
    for path in paths:
        if not os.statvfs(path).f_flag & os.ST_RDONLY:
            raise _fail(f"{path} is still writable", paths)
