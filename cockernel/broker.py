"""``python -m cockernel -f CONNECTION_FILE``: the kernel's broker, outside the sandbox.

It holds the API key and the LM client, starts the real kernel (:mod:`cockernel.runner`) as a
confined process with the same connection file, answers its LM requests, passes Jupyter's
interrupts on, ends a cell that ignores its time limit or an interrupt, and exits with the
kernel. With ``LMULATOR_SANDBOX=off`` the kernel runs in this process, unconfined, as before.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from lmulator.config import Config, from_env
from lmulator.errors import ConfigError
from lmulator.sandbox import SandboxError, SandboxSpec, sandbox_from_env
from lmulator.sandbox.broker import Broker
from lmulator.sandbox.importpath import python_command

from .paths import notebook_directory

#: How long a running cell may ignore an interrupt or its time limit before the kernel is ended.
KERNEL_GRACE_S = 5.0


def connection_file(argv: list[str]) -> str | None:
    """The ``-f`` / ``--f=`` / ``--IPKernelApp.connection_file=`` argument, if any."""
    for i, arg in enumerate(argv):
        if arg in ("-f", "--f") and i + 1 < len(argv):
            return argv[i + 1]
        for prefix in ("--f=", "-f=", "--IPKernelApp.connection_file=", "--connection_file="):
            if arg.startswith(prefix):
                return arg[len(prefix) :]
    return None


def kernel_sandbox(argv: list[str], spec: SandboxSpec) -> SandboxSpec:
    """The kernel's sandbox: the notebook's directory (where the client says, else the working
    directory) is the workspace; it may
    read its connection file and bind the ports named there."""
    path = connection_file(argv)
    ports: list[int] = []
    read: list[str] = list(spec.read)
    if path:
        path = os.path.abspath(path)
        read.append(path)
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
            ports = [int(info[k]) for k in info if k.endswith("_port")]
            ports.append(0)  # the kernel's own pipe for subprocess output binds a free port
        except (OSError, ValueError, TypeError):
            ports = []
    return spec.with_(workspace=spec.workspace or str(notebook_directory()), read=tuple(read),
                      bind_ports=tuple(ports))  # fmt: skip


def main(argv: list[str]) -> int:
    """Start the confined kernel and broker for it; return its exit status."""
    try:
        config = from_env()
    except ConfigError as exc:
        print(f"cockernel: {exc}; using defaults", file=sys.stderr)
        config = Config()
    try:
        spec = kernel_sandbox(argv, sandbox_from_env())
    except ConfigError as exc:
        print(f"cockernel: error: {exc}", file=sys.stderr)
        return 2
    try:
        broker = Broker(config, spec)  # reads the endpoints and models the user allows
    except ConfigError as exc:
        print(f"cockernel: error: {exc}", file=sys.stderr)
        return 2
    try:  # -P: nothing from the notebook's folder is imported before the kernel is confined
        broker.start(python_command("cockernel.runner", argv))
    except SandboxError as exc:
        print(f"cockernel: error: {exc}", file=sys.stderr)
        return 2
    broker.forward_signals(signal.SIGINT, signal.SIGTERM)
    code = broker.wait(grace_s=KERNEL_GRACE_S)
    if broker.killed_because:
        print(f"cockernel: the kernel's cell {broker.killed_because}; the kernel was ended",
              file=sys.stderr)  # fmt: skip
    return code
