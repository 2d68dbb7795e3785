"""Talk to a real kernel started with jupyter_client."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class Execution:
    """What one execute_request produced."""

    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def of(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == msg_type]

    @property
    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of("stream") if c["name"] == "stdout")

    @property
    def result(self) -> str | None:
        results = self.of("execute_result")
        return results[-1]["data"]["text/plain"] if results else None


ANSI = re.compile(r"\x1b\[[0-9;]*m")
PACKAGE_FILE = re.compile(r"\b(lmulator|cockernel)/[\w/]*\.py")


def package_frames(ex: Execution) -> list[str]:
    """The lines of a failed cell's tracebacks (its error message and its reply) that show a
    frame of lmulator's or cockernel's own files."""
    lines = [line for c in ex.of("error") for line in c["traceback"]]
    lines += ex.reply["content"].get("traceback", [])
    return [line for line in lines if PACKAGE_FILE.search(line)]


def shows_only_the_cells_frames(ex: Execution) -> bool:
    """Whether a failed cell's traceback shows the cell's lines and no frame of ours."""
    (error,) = ex.of("error")
    shown = ANSI.sub("", "\n".join(error["traceback"]))
    return "Cell In[" in shown and package_frames(ex) == []


class Kernel:
    """A running ``coc`` kernel and a blocking client."""

    def __init__(
        self, env: dict[str, str] | None = None, kernel_name: str = "coc", cwd: str | None = None
    ) -> None:
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))
        }
        full_env.update(env or {})
        self.km = KernelManager(kernel_name=kernel_name)
        self.km.start_kernel(env=full_env, **({"cwd": cwd} if cwd else {}))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def send(self, code: str, allow_stdin: bool = False) -> str:
        """Send an execute_request (as a batch client does, unless ``allow_stdin``)."""
        return self.kc.execute(code, allow_stdin=allow_stdin)

    def collect(self, msg_id: str, timeout: float = 60) -> Execution:
        """Gather iopub messages until the kernel is idle again, then the reply."""
        messages = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            messages.append(msg)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return Execution(reply, messages)

    def run(self, code: str, timeout: float = 60, allow_stdin: bool = False) -> Execution:
        """Execute code and wait for everything it produced."""
        return self.collect(self.send(code, allow_stdin), timeout)

    def interrupt_once_printed(
        self, code: str, marker: str, timeout: float = 20
    ) -> tuple[Execution, float]:
        """Run ``code``; once it has printed ``marker``, interrupt the kernel. Return what the
        cell produced and the seconds from the interrupt to its reply."""
        msg_id = self.send(code)
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "stream"
                and marker in msg["content"]["text"]
            ):
                break
        start = time.monotonic()
        self.km.interrupt_kernel()
        ex = self.collect(msg_id, timeout=timeout)
        return ex, time.monotonic() - start

    def close(self) -> None:
        """Shut the kernel down."""
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
