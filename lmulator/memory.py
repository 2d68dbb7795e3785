"""Memory sizes the layers share: the machine's memory, the default a cell may add, and lifting
a limit a process inherited (the engine's limits, the configuration and the embedded server)."""

from __future__ import annotations

import os
import resource

MIB = 1024 * 1024


def physical_memory() -> int:
    """The machine's physical memory in bytes (0 if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def default_memory_mb() -> int:
    """The default memory a cell may add: half the machine's physical memory."""
    return physical_memory() // 2 // MIB


def lift_own_memory_limit() -> None:
    """Raise this process's soft address-space limit to its hard one (inherited limits)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
