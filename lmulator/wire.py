"""JSON lines over a pair of pipe file descriptors, with a cap on message size.

The parent never unpickles or evaluates what a child sends: every message is one JSON object on
one line, and a line that is too long or does not parse is dropped with a count kept.
"""

from __future__ import annotations

import json
import os
import select
import time
from typing import Any

MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class ChannelClosed(Exception):
    """The other end of the channel is gone."""


class Channel:
    """Send and receive JSON objects, one per line, over file descriptors."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buffer = bytearray()
        self._skipping = False  # inside an over-long line, dropping bytes until its end
        self.dropped = 0

    def send(self, message: dict[str, Any]) -> None:
        """Write one message; raise ChannelClosed if the reader is gone."""
        data = json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.write_fd, view)
                view = view[written:]
        except (BrokenPipeError, OSError) as exc:
            raise ChannelClosed(str(exc)) from None

    def _pop_line(self) -> dict[str, Any] | None:
        """The next complete, well-formed message in the buffer, if any."""
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    self._buffer.clear()
                    self._skipping = True
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                self.dropped += 1
                continue
            if not line.strip():
                continue
            try:
                message = json.loads(line, parse_constant=_refuse_constant)
            except (ValueError, RecursionError):
                self.dropped += 1
                continue
            if isinstance(message, dict) and isinstance(message.get("op"), str):
                return message
            self.dropped += 1

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message; None if ``timeout`` seconds pass first; ChannelClosed at EOF."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            message = self._pop_line()
            if message is not None:
                return message
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.read_fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise ChannelClosed("the other end closed the channel")
            self._buffer += chunk

    def discard_pending(self) -> None:
        """Drop everything received but not yet read, buffered or still in the pipe."""
        self._buffer.clear()
        self._skipping = False
        while select.select([self.read_fd], [], [], 0)[0]:
            if not os.read(self.read_fd, 1 << 16):
                break
