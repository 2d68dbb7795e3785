"""``python no_landlock.py ARGS...``: run Python as on a system without Landlock.

A seccomp filter makes Landlock's three system calls fail with ENOSYS (what a kernel without
Landlock answers), then the interpreter is executed again with the remaining arguments.
"""

import ctypes
import errno
import os
import platform
import struct
import sys

ARCH = {"x86_64": (0xC000003E, 317), "aarch64": (0xC00000B7, 277)}


def main() -> None:
    audit_arch, sys_seccomp = ARCH[platform.machine()]
    allow, enosys = 0x7FFF0000, 0x00050000 | errno.ENOSYS
    prog = [
        (0x20, 0, 0, 4),  # load arch
        (0x15, 1, 0, audit_arch),
        (0x06, 0, 0, allow),
        (0x20, 0, 0, 0),  # load nr
        (0x35, 0, 3, 444),  # nr >= 444 ...
        (0x35, 2, 0, 447),  # ... and nr < 447: Landlock
        (0x06, 0, 0, enosys),
        (0x06, 0, 0, allow),
        (0x06, 0, 0, allow),
    ]
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs
    fprog = Prog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    assert libc.syscall(ctypes.c_long(sys_seccomp), 1, 0, ctypes.byref(fprog)) == 0
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])


if __name__ == "__main__":
    main()
