"""Test helpers: a scripted OpenAI-compatible server, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

from ..processes import stop_process
from .fake import FakeChatClient

__all__ = ["FakeChatClient", "ScriptedServer", "delta_rule", "value_rule"]


class ScriptedServer:
    """A running ``python -m lmulator.testing.server`` process on 127.0.0.1."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lmulator.testing.server", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server listens
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"scripted server did not start: {line!r}")
        self.base_url = line.split()[-1]
        self.root = self.base_url.removesuffix("/v1")
        if script is not None:
            self.script(script)

    def _post(self, path: str, payload: Any) -> Any:
        req = urllib.request.Request(
            self.root + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def script(self, script: dict[str, Any]) -> None:
        """Replace the server's script."""
        self._post("/_script", script)

    def rules(self, *rules: dict[str, Any], **options: Any) -> None:
        """Replace the script with these rules."""
        self.script({"rules": list(rules), **options})

    def reset(self) -> None:
        """Forget the script and the request log."""
        self._post("/_reset", {})

    def log(self) -> list[dict[str, Any]]:
        """The chat requests received so far."""
        with urllib.request.urlopen(self.root + "/_log", timeout=10) as resp:
            return json.load(resp)

    def user_messages(self) -> list[str]:
        """The last user message of each request received."""
        out = []
        for body in self.log():
            users = [m["content"] for m in body["messages"] if m["role"] == "user"]
            out.append(users[-1] if users else "")
        return out

    def close(self) -> None:
        """Stop the server process."""
        stop_process(self.process)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def value_rule(target: str, value: Any, **extra: Any) -> dict[str, Any]:
    """A script rule answering the value request whose target is ``target``."""
    return {"match": [f"Emulate: {target}"], "reply": {"value": value}, **extra}


def delta_rule(statement: str, delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A script rule answering the statement request for ``statement``."""
    return {"match": ["Statement request", f"`{statement}`"], "reply": {"delta": delta}, **extra}
