"""Confine this process with Landlock (files, TCP, signals) and seccomp (system calls).

What a confined process may do:

* **read** the Python installation and the paths on ``sys.path`` (never the home directory or
  ``/`` as a whole), the system's libraries and the read-only data Python needs (``/usr``,
  ``/lib*``, the dynamic linker's cache, time zones), its own ``/proc/self``, a few devices, the
  workspace and the extra ``read`` paths;
* **write** the workspace (mode ``workspace``), the private temporary directory and the extra
  ``write`` paths; nothing else, and it may make no device nodes anywhere;
* **execute** no program at all, not even Python (through its dynamic loader, exec of the
  interpreter would be exec of anything readable); isolated sessions fork their workers from a
  zygote instead (:mod:`.zygote`);
* **network**: bind only the TCP ports it is given (the kernel's own; Landlock ABI 4 or newer);
  open no new socket of any family, connect nowhere, send nothing to an address, make no
  datagram socket pair (seccomp, whatever the ABI); sockets opened before keep working;
  ``/proc/net`` is not readable;
* **processes**: no privileges gained by ``execve``; calls that name a process act only on the
  caller (seccomp); no ``setsid``, so every process of the box stays in the runner's session,
  which the broker ends with the box; no ``ptrace`` or ``process_vm_*``, no namespaces, mounts,
  keyrings, System V IPC, BPF or io_uring. Signals to processes outside the box are refused
  where Landlock has ABI 6 or newer (its signal scope); with an older ABI they are not.

System calls are filtered by an allow-list (:mod:`.seccomp`): what it does not name is refused.

Landlock applies to the calling thread and what it starts, so :func:`confine` must run before
any thread starts; the seccomp filter is synchronised to every thread and may come later
(:func:`restrict_syscalls`), once the process has opened its sockets.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from dataclasses import dataclass, field

from ..errors import LmulatorError
from . import landlock, seccomp
from .spec import SandboxSpec

#: System paths a Python process reads: libraries, linker cache, time zones, locales, MIME types.
SYSTEM_READ = (
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/opt/conda",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/timezone", "/etc/locale.alias", "/etc/mime.types", "/sys/devices/system/cpu",
)  # fmt: skip
DEVICES_READ = ("/dev/urandom", "/dev/random", "/dev/zero")
#: What a confined process reads of its own ``/proc/<pid>``: its descriptors, status, limits and
#: memory map. Not ``net`` (``/proc/net`` lists every socket of the machine: the targets of an
#: attack), not ``task`` (whose threads each have a ``net``), not ``root`` or ``cwd``.
PROC_SELF_READ = ("fd", "fdinfo", "stat", "statm", "status", "cmdline", "comm", "limits", "maps",
                  "mountinfo", "cgroup", "environ", "io")  # fmt: skip
DEVICES_WRITE = ("/dev/null", "/dev/full")


class SandboxError(LmulatorError):
    """The process could not be confined as asked."""


class SandboxUnavailable(SandboxError):
    """The operating system cannot confine this process (and confinement was required)."""


@dataclass
class Confinement:
    """What :func:`confine` did."""

    confined: bool
    landlock_abi: int = 0
    syscalls: bool = False
    reason: str = ""  # why not confined, in one line
    readable: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for logs and ``%sandbox``."""
        if not self.confined:
            return f"cells are NOT confined: {self.reason}"
        parts = [f"Landlock ABI {self.landlock_abi}"]
        parts.append("seccomp" if self.syscalls else "no seccomp")
        writable = ", ".join(self.writable) or "nothing"
        return f"cells are confined ({', '.join(parts)}); writable: {writable}"


def _home() -> str | None:
    home = os.path.expanduser("~")
    return os.path.realpath(home) if home and home != "~" else None


def _too_wide(path: str, home: str | None) -> bool:
    """Whether opening ``path`` would open the home directory or the whole machine."""
    real = os.path.realpath(path)
    if real == "/":
        return True
    if home is None:
        return False
    return real == home or home.startswith(real.rstrip("/") + "/")


def python_paths() -> list[str]:
    """Where this Python's standard library, extensions and installed packages are."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths.update(p for p in sysconfig.get_paths().values() if p)
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    for package in ("lmulator", "cockernel"):  # found without importing (editable installs)
        try:
            found = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            found = None
        for location in (found.submodule_search_locations or []) if found else []:
            paths.add(os.path.dirname(os.path.abspath(location)))
    home = _home()
    return sorted(p for p in paths if os.path.exists(p) and not _too_wide(p, home))


def workspace_of(spec: SandboxSpec) -> str | None:
    """The workspace directory to open, or None where it would open the home or ``/``."""
    workspace = os.path.realpath(spec.workspace or os.getcwd())
    return None if _too_wide(workspace, _home()) else workspace


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def confine(spec: SandboxSpec, *, syscalls: bool = True) -> Confinement:
    """Confine this process as ``spec`` says; see the module's docstring for what that means.

    Returns what was done. Where Landlock is missing, returns an unconfined result, or raises
    SandboxUnavailable if ``spec.required``. Must be called before any thread is started.
    """
    spec.validate()
    if not spec.enabled:
        return Confinement(False, reason="the sandbox is off")
    abi = landlock.abi_version() if sys.platform == "linux" else 0
    if abi < 1:
        reason = (
            "this system has no Landlock (Linux 5.13 or newer with Landlock enabled is needed)"
            if sys.platform == "linux"
            else f"no sandbox on {sys.platform}"
        )
        if spec.required:
            raise SandboxUnavailable(f"the sandbox is required but {reason}")
        return Confinement(False, reason=reason)
    if _thread_count() > 1:
        raise SandboxError("confine() must be called before the process starts threads")
    ruleset = landlock.Ruleset(abi)
    readable = [*SYSTEM_READ, *python_paths(), *spec.read]
    writable = [*spec.write]
    if spec.tmpdir:
        writable.append(spec.tmpdir)
    workspace = workspace_of(spec)
    if workspace is not None:
        (writable if spec.mode == "workspace" else readable).append(workspace)
    ruleset.allow_all(readable, landlock.READ)
    ruleset.allow_all(writable, landlock.READ | landlock.WRITE)
    ruleset.allow_all(DEVICES_READ, landlock.FS_READ_FILE)
    ruleset.allow_all(DEVICES_WRITE, landlock.FS_READ_FILE | landlock.FS_WRITE_FILE
                      | landlock.FS_TRUNCATE | landlock.FS_IOCTL_DEV)  # fmt: skip
    for entry in PROC_SELF_READ:
        ruleset.allow(f"/proc/{os.getpid()}/{entry}", landlock.READ)
    for port in spec.bind_ports:
        ruleset.allow_port(port, landlock.NET_BIND_TCP)
    ruleset.restrict_self()
    result = Confinement(
        True,
        landlock_abi=abi,
        readable=[p for p, r in ruleset.paths if not r & landlock.FS_WRITE_FILE],
        writable=[w for w in writable if any(p == w for p, _ in ruleset.paths)],
    )
    if syscalls:
        result.syscalls = restrict_syscalls()
    return result


def restrict_syscalls(processes: bool = True) -> bool:
    """Install the seccomp filter on every thread, and without ``processes`` (a runner) the one
    that refuses new processes; False where this machine has no table."""
    if not seccomp.available():
        return False
    landlock.set_no_new_privs()
    seccomp.install()
    if not processes:
        seccomp.install(seccomp.build_no_new_processes())
    return True


def keep_process_group() -> None:
    """Stack the filter that keeps this process and its children in their process group."""
    if seccomp.available():
        seccomp.install(seccomp.build_no_new_groups())
