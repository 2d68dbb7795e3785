"""The kernel that runs cells, inside the sandbox; started by :mod:`cockernel.broker`.

Landlock is applied first, before any thread exists (it confines the calling thread and what it
starts); the kernel then reads its connection file and binds its ports, and the seccomp filter,
synchronised to every thread, takes away new sockets and the rest once the sockets are open.
"""

from __future__ import annotations

import sys
from typing import Any

from lmulator.errors import ConfigError
from lmulator.sandbox import SandboxError, restrict_syscalls
from lmulator.sandbox.runner import enter_sandbox


def _fork_worker_zygote() -> None:
    """Start %%isolated's workers through a zygote (imported once confined, as the rest)."""
    from lmulator.isolation.session import fork_worker_zygote

    fork_worker_zygote()


def main() -> int:
    """Confine this process, then run the kernel in it."""
    try:
        confinement = enter_sandbox(syscalls=False, workers=_fork_worker_zygote)
    except (ConfigError, SandboxError) as exc:
        print(f"cockernel: error: {exc}", file=sys.stderr)
        return 2
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import CocKernel

    class ConfinedKernelApp(IPKernelApp):
        """IPython's kernel application, with system calls restricted once its sockets are open."""

        def initialize(self, argv: Any = None) -> None:
            """Read the connection file, bind the sockets, then install the seccomp filter."""
            super().initialize(argv)
            if confinement.confined:
                confinement.syscalls = restrict_syscalls(processes=False)

    ConfinedKernelApp.launch_instance(kernel_class=CocKernel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
