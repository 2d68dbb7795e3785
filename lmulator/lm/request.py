"""One question to the LM, as data: what is asked, where, with which state and error."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_CONTEXT_CHARS = 4000


@dataclass
class Request:
    """One question to the LM: a value of an expression, or a statement's state delta."""

    kind: str  # "value" | "delta"
    target: str
    line: int
    statement: str
    context: str = ""
    state: dict[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    error: str | None = None
    definition: str | None = None
    expect: dict[str, Any] | None = None
    memo_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-ready data (for traces and records)."""
        data = asdict(self)
        data.pop("memo_key", None)
        data.pop("context", None)
        return data


def make_memo_key(*parts: Any) -> str:
    """A stable key for memoizing identical requests."""
    return json.dumps(parts, sort_keys=True, default=str)


def cap_context(source: str, line: int, limit: int = MAX_CONTEXT_CHARS) -> str:
    """The cell source, cut to lines around ``line`` when it is long."""
    if len(source) <= limit:
        return source
    lines = source.splitlines()
    lo = hi = max(0, line - 1)
    size = len(lines[lo]) if lines else 0
    while size < limit and (lo > 0 or hi < len(lines) - 1):
        if lo > 0:
            lo -= 1
            size += len(lines[lo]) + 1
        if hi < len(lines) - 1 and size < limit:
            hi += 1
            size += len(lines[hi]) + 1
    return "\n".join(lines[lo : hi + 1])
