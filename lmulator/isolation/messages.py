"""What crosses between an isolated session and its child: the child's errors, values and
limits, and the checks every message from the child passes before use."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from ..engine.masking import MaskedError, Origin
from ..engine.trace import TraceRecord
from ..errors import CellTimeout, EmulationError, LmulatorError
from ..kinds import HOWS, STATUSES
from ..lm.confidence import confidence_or_none
from ..memory import default_memory_mb
from ..sandbox.broker import valid_messages
from ..wire import Channel, ChannelClosed

MAX_ERROR_TYPES = 256
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IsolationError(LmulatorError):
    """The isolated process failed or misbehaved (its cell's state was restored or lost)."""


class ChildError(Exception):
    """An error raised in the isolated process, shown as the program's own error.

    Each is an instance of a subclass named like the child's exception (``ZeroDivisionError``),
    so displays that show a type's name show the familiar one.
    """

    isolated = True  # never handed to an LM by an enclosing session

    def __init__(self, type_name: str, message: str, text: str) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.text = text

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def named(cls, type_name: str, message: str, text: str) -> ChildError:
        """An error whose class is named ``type_name`` (``ChildError`` if that is no name)."""
        name = type_name if type_name.isidentifier() else "ChildError"
        if name not in _CHILD_ERROR_TYPES:
            if len(_CHILD_ERROR_TYPES) >= MAX_ERROR_TYPES:  # a child inventing names
                return cls(type_name, message, text)
            _CHILD_ERROR_TYPES[name] = type(name, (ChildError,), {"__module__": "isolated"})
        return _CHILD_ERROR_TYPES[name](type_name, message, text)


_CHILD_ERROR_TYPES: dict[str, type[ChildError]] = {}


class ChildValue:
    """A value that lives in the isolated process, known here by its repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ChildLimits:
    """Limits on the isolated process."""

    memory_mb: int | None = None  # address space the child may add; None: half the RAM
    cpu_seconds: int = 0  # CPU time for the child's whole life; 0: no limit
    open_files: int = 64
    grace_s: float = 2.0  # how long a cell may ignore an interrupt or its time limit
    snapshots: bool = True  # keep the state before each cell in a forked copy

    def to_message(self) -> dict[str, Any]:
        """The limits as the child reads them."""
        memory = default_memory_mb() if self.memory_mb is None else self.memory_mb
        return {"memory_mb": memory, "cpu_seconds": self.cpu_seconds, "open_files": self.open_files}


_KNOWN_ERRORS: dict[str, type[BaseException]] = {
    "MemoryError": MemoryError,
    "KeyboardInterrupt": KeyboardInterrupt,
    "CellTimeout": CellTimeout,
    "EmulationError": EmulationError,
}


def decode_error(data: Any) -> BaseException | None:
    """The exception a child's ``done`` message reports."""
    if not isinstance(data, dict):
        return None
    type_name = str(data.get("type") or "Error")[:100]
    message = str(data.get("message") or "")[:10_000]
    text = str(data.get("text") or "")[:100_000]
    known = _KNOWN_ERRORS.get(type_name)
    if known is EmulationError:
        line = data.get("line")
        exc: BaseException = EmulationError(
            message.split(": ", 1)[1] if message.startswith("line ") else message,
            line if isinstance(line, int) else None,
        )
    elif known is not None:
        exc = known(message)
    else:
        exc = ChildError.named(type_name, message, text)
    return exc


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def decode_record(data: Any) -> TraceRecord | None:
    """A trace record from the child's JSON, keeping only fields of the right type."""
    if not isinstance(data, dict):
        return None
    line, ms = data.get("line"), data.get("ms")
    return TraceRecord(
        line=line if isinstance(line, int) and not isinstance(line, bool) else 0,
        source=_text_or_none(data.get("source")) or "",
        status=data["status"] if data.get("status") in STATUSES else "error",
        value=data.get("value"),
        has_value="value" in data,
        delta=data["delta"] if isinstance(data.get("delta"), dict) else None,
        masked_error=_text_or_none(data.get("masked_error")),
        error=_text_or_none(data.get("error")),
        ms=float(ms) if isinstance(ms, (int, float)) and abs(ms) < 1e12 else 0.0,
        target=_text_or_none(data.get("target")),
        how=data["how"] if data.get("how") in HOWS else None,
        confidence=confidence_or_none(data.get("confidence")),
    )


def decode_masked(data: Any) -> list[MaskedError]:
    """The masked errors a child's ``done`` message names, keeping only well-formed ones."""
    if not isinstance(data, list):
        return []
    return [
        MaskedError(item[0], item[1][:10_000], item[2])
        for item in data[:MAX_ERROR_TYPES]
        if isinstance(item, list)
        and len(item) == 3
        and isinstance(item[0], int)
        and not isinstance(item[0], bool)
        and isinstance(item[1], str)
        and isinstance(item[2], bool)
    ]


def decode_origin(data: Any) -> Origin | None:
    """Where a child's cell value came from (None if it says nothing valid)."""
    return data if data in ("emulated", "invented") else None


def valid_lm_request(msg: dict[str, Any]) -> bool:
    return (
        valid_messages(msg.get("messages"))
        and isinstance(msg.get("schema"), dict)
        and isinstance(msg.get("name"), str)
        and bool(_NAME_RE.match(msg["name"]))
    )


def wait_for(
    channel: Channel, ops: tuple[str, ...], timeout: float, seq: int | None = None
) -> dict[str, Any] | None:
    """The next message whose op is one of ``ops`` (and whose seq is ``seq``), or None once
    ``timeout`` seconds have passed or the channel closed."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            msg = channel.recv(timeout=left)
        except ChannelClosed:
            return None
        if msg is not None and msg["op"] in ops and (seq is None or msg.get("seq") == seq):
            return msg
