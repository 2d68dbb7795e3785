"""JSON lines over a pair of pipe file descriptors, with a cap on message size.

The parent never unpickles or evaluates what a child sends: every message is one JSON object on
one line, and a line that is too long or does not parse is dropped with a count kept. A strict
channel also refuses to send a message too long for the other end (:class:`MessageTooLong`), and
reports an over-long line it drops, so that no one waits for a message that will never come.
"""

from __future__ import annotations

import json
import os
import re
import select
import time
from typing import Any

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: The op of what a strict channel's ``recv`` gives for an over-long line it drops; its "id" is
#: the id at the line's start (senders put "op" and "id" first), or None.
TOO_LONG = "too_long"
_HEAD_BYTES = 256
_HEAD_ID = re.compile(rb'^\{"op":"[a-z_]{1,32}","id":(-?\d{1,18}|"[^"\\]{0,64}")[,}]')


def _head_id(head: bytes) -> int | str | None:
    """The id at the start of a line, if it starts as the senders here start their lines."""
    found = _HEAD_ID.match(head)
    if found is None:
        return None
    value = json.loads(found.group(1))
    return value if isinstance(value, (int, str)) else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class ChannelClosed(Exception):
    """The other end of the channel is gone."""


class MessageTooLong(ValueError):
    """A message is longer than the other end of a strict channel accepts."""


class Channel:
    """Send and receive JSON objects, one per line, over file descriptors."""

    def __init__(self, read_fd: int, write_fd: int, *, strict: bool = False) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.strict = strict
        self._buffer = bytearray()
        self._skipping = False  # inside an over-long line, dropping bytes until its end
        self.dropped = 0

    def send(self, message: dict[str, Any]) -> None:
        """Write one message; raise ChannelClosed if the reader is gone, and (on a strict
        channel) MessageTooLong, sending nothing, if the reader would drop it."""
        data = json.dumps(message, separators=(",", ":"), default=str).encode()
        if self.strict and len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLong(
                f"a message of {len(data)} bytes is longer than the channel carries "
                f"({MAX_MESSAGE_BYTES} bytes)"
            )
        view = memoryview(data + b"\n")
        try:
            while view:
                written = os.write(self.write_fd, view)
                view = view[written:]
        except (BrokenPipeError, OSError) as exc:
            raise ChannelClosed(str(exc)) from None

    def _pop_line(self) -> dict[str, Any] | None:
        """The next complete, well-formed message in the buffer, if any (on a strict channel,
        the notice of an over-long line as it starts being dropped)."""
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    head = bytes(self._buffer[:_HEAD_BYTES])
                    self._buffer.clear()
                    started, self._skipping = not self._skipping, True
                    if started and self.strict:
                        return {"op": TOO_LONG, "id": _head_id(head)}
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                self.dropped += 1
                continue
            if len(line) > MAX_MESSAGE_BYTES:  # over-long, though read to its end at once
                self.dropped += 1
                if self.strict:
                    return {"op": TOO_LONG, "id": _head_id(line[:_HEAD_BYTES])}
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
