"""Escape attempts against the operating-system boundary, with the policy set to ``trusted``.

Each payload is plain Python that prints whatever it managed to obtain. The test plants secrets
the payloads must not reach (the API key in the broker's environment, files outside the
workspace, a fake home with an SSH key, IPython startup files and other kernels' connection
files), listeners that must receive nothing, and a process that must not be signalled; a payload
succeeds if a secret shows up in its output or a listener, victim or file notices it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..kernel.helpers import Kernel

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Target:
    """What the payloads must not reach, and how to tell if they did."""

    root: Path
    key: str = field(default_factory=lambda: "sk-canary-" + secrets.token_hex(12))
    secret: str = field(default_factory=lambda: "canary-" + secrets.token_hex(12))
    tcp_hits: list[bytes] = field(default_factory=list)
    udp_hits: list[bytes] = field(default_factory=list)
    unix_hits: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workspace = self.root / "workspace"
        self.home = self.root / "home"
        self.outside = self.root / "outside"
        for d in (self.workspace, self.home / ".ssh", self.outside,
                  self.home / ".ipython" / "profile_default" / "startup"):  # fmt: skip
            d.mkdir(parents=True, exist_ok=True)
        (self.home / ".ssh" / "id_rsa").write_text(self.secret)
        (self.outside / "notes.txt").write_text(self.secret)
        self._servers: list[socket.socket] = []
        self.tcp_port = self._serve_tcp()
        self.udp_port = self._serve_udp()
        self.unix_path = str(self.outside / "agent.sock")
        self._serve_unix()
        self.victim = subprocess.Popen(["sleep", "600"])
        self._before = self._listing()

    def _listing(self) -> dict[str, tuple[object, ...]]:
        """Every file outside the workspace that a payload might create, change or remove:
        its bytes, mode, owner and extended attributes."""
        files: dict[str, tuple[object, ...]] = {}
        for top in (self.home, self.outside):
            for path in top.rglob("*"):
                if path.is_file():
                    st = path.stat()
                    xattrs = tuple(sorted(os.listxattr(path)))
                    files[str(path)] = (path.read_bytes(), st.st_mode, st.st_uid, st.st_gid, xattrs)
        return files

    def _serve_tcp(self) -> int:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        self._servers.append(srv)
        threading.Thread(target=self._accept, args=(srv, self.tcp_hits), daemon=True).start()
        return srv.getsockname()[1]

    def _serve_unix(self) -> None:
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(self.unix_path)
        srv.listen()
        self._servers.append(srv)
        threading.Thread(target=self._accept, args=(srv, self.unix_hits), daemon=True).start()

    def _accept(self, srv: socket.socket, hits: list[bytes]) -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            hits.append(b"connected")
            conn.close()

    def _serve_udp(self) -> int:
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("127.0.0.1", 0))
        self._servers.append(srv)

        def receive() -> None:
            while True:
                try:
                    self.udp_hits.append(srv.recv(100))
                except OSError:
                    return

        threading.Thread(target=receive, daemon=True).start()
        return srv.getsockname()[1]

    def fill(self, payload: str) -> str:
        """The payload with the targets' places filled in."""
        return (
            payload.replace("OUTSIDE", str(self.outside))
            .replace("HOME", str(self.home))
            .replace("TCP_PORT", str(self.tcp_port))
            .replace("UDP_PORT", str(self.udp_port))
            .replace("UNIX_PATH", self.unix_path)
            .replace("VICTIM", str(self.victim.pid))
        )

    def breaches(self, output: str) -> list[str]:
        """Everything that shows a payload got through."""
        found = []
        if self.key in output:
            found.append("the API key")
        if self.secret in output:
            found.append("a file outside the workspace")
        claimed = re.search(r"^BREACH:.*", output, re.M)  # a payload's own report of success
        if claimed:
            found.append(claimed.group(0)[:200])
        if self._listing() != self._before:
            found.append("a file outside the workspace was created, changed or removed")
        if self.tcp_hits or self.udp_hits or self.unix_hits:
            found.append("a network connection")
        if self.victim.poll() is not None:
            found.append("a signal to another process")
        return found

    def env(self) -> dict[str, str]:
        """The environment the broker starts with: the key, and the fake home."""
        return {"OPENAI_API_KEY": self.key, "HOME": str(self.home), "LMULATOR_CACHE": "off"}

    def close(self) -> None:
        """Stop the listeners and the victim."""
        for srv in self._servers:
            srv.close()
        self.victim.kill()
        self.victim.wait()


def run_cli(target: Target, payload: str, *args: str, timeout: float = 60) -> str:
    """Run a payload with ``python -m lmulator run`` (trusted policy); its output and errors."""
    program = target.workspace / "payload.py"
    program.write_text(target.fill(payload))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env.update(target.env())
    proc = subprocess.run(
        [sys.executable, "-m", "lmulator", "run", str(program), "--policy", "trusted",
         "--mode", "python", "--no-listing", *args],
        capture_output=True, text=True, env=env, cwd=str(target.workspace), timeout=timeout,
    )  # fmt: skip
    if proc.returncode < 0:  # a signal ended the broker (the runner never can)
        return f"{proc.stdout}{proc.stderr}\nBREACH: the broker was killed by signal {-proc.returncode}"
    return proc.stdout + proc.stderr


def kernel_for(target: Target) -> Kernel:
    """A real ``coc`` kernel started in the workspace with the key, under the trusted policy."""
    kernel = Kernel(env=target.env(), cwd=str(target.workspace))
    for line in ("%policy trusted", "%mode python"):
        assert kernel.run(line).status == "ok"
    other = Path(kernel.km.connection_file).parent / f"kernel-canary-{os.getpid()}.json"
    other.write_text(json.dumps({"key": target.secret}))
    kernel.planted = other  # type: ignore[attr-defined]
    return kernel


def run_in_kernel(kernel: Kernel, target: Target, payload: str) -> str:
    """Run a payload as one cell; everything it printed, showed or raised, as text."""
    ex = kernel.run(target.fill(payload), timeout=60)
    parts = [ex.stdout, ex.result or ""]
    parts += [c.get("text", "") for c in ex.of("stream")]
    parts += [str(c.get("data", "")) for c in ex.of("display_data")]
    parts += [" ".join(c.get("traceback", [])) for c in ex.of("error")]
    return "\n".join(parts)


def families(*modules: object) -> Iterator[tuple[str, str]]:
    """(family, payload) pairs from modules that define FAMILY and PAYLOADS."""
    for module in modules:
        for payload in module.PAYLOADS:  # type: ignore[attr-defined]
            yield module.FAMILY, payload  # type: ignore[attr-defined]


def kill_quietly(pid: int) -> None:
    """Kill a process if it is still there."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
