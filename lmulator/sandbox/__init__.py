"""The operating system as the boundary: confine the process that runs cells.

:func:`confine` applies Landlock and seccomp to this process (see :mod:`.confine`);
:class:`Broker` starts a confined runner and answers its LM requests, so the process that runs
cells never holds the API key (:mod:`.broker`).
"""

from .confine import Confinement, SandboxError, SandboxUnavailable, confine, restrict_syscalls
from .spec import MODES, SandboxSpec, parse_sandbox, sandbox_from_env

__all__ = [
    "MODES",
    "Confinement",
    "SandboxError",
    "SandboxSpec",
    "SandboxUnavailable",
    "confine",
    "parse_sandbox",
    "restrict_syscalls",
    "sandbox_from_env",
]
