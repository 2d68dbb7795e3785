"""Trace records of a run, and the marked listing of a program."""

from __future__ import annotations

import json
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any

from ..kinds import How, Status
from ..lm.confidence import describe_confidence
from ..usage import Spent
from .masking import EMULATED_MARK, ERROR_MARK, INVENTED_MARK, MaskedError, Origin
from .world import INVENTED_NOTE

MAX_REPR = 200
#: The hows of answers that came from the LM, whose records carry its confidence.
SCORED_HOWS = ("lm", "memo", "replay", "invented")


def stable_repr(value: Any, depth: int = 0) -> str:
    """``repr``, but sets are shown sorted, so the text is the same in every process."""
    if depth > 8:
        return repr(value)
    if isinstance(value, (set, frozenset)):
        items = [stable_repr(v, depth + 1) for v in value]
        try:
            items = [stable_repr(v, depth + 1) for v in sorted(value)]
        except TypeError:
            items.sort()
        if not items:
            return "set()" if isinstance(value, set) else "frozenset()"
        body = "{" + ", ".join(items) + "}"
        return body if isinstance(value, set) else f"frozenset({body})"
    if type(value) is list:
        return "[" + ", ".join(stable_repr(v, depth + 1) for v in value) + "]"
    if type(value) is tuple:
        inner = ", ".join(stable_repr(v, depth + 1) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if type(value) is dict:
        return (
            "{"
            + ", ".join(
                f"{stable_repr(k, depth + 1)}: {stable_repr(v, depth + 1)}"
                for k, v in value.items()
            )
            + "}"
        )
    return repr(value)


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    """A stable ``repr`` cut to ``limit`` characters; never raises."""
    try:
        text = stable_repr(value)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # a user __repr__ may fail
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def state_repr(value: Any) -> str:
    """How a value is shown to the LM: short, and stable for functions, classes and modules."""
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__}>"
    if isinstance(value, type):
        return f"<class {value.__name__}>"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return f"<function {getattr(value, '__name__', '?')}>"
    return short_repr(value)


def jsonable(value: Any) -> Any:
    """The value itself if JSON can hold it, else its short repr."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return {"$repr": short_repr(value)}
    return value


@dataclass
class TraceRecord:
    """What happened at one line: emulated, failed, or (at the full level) ran."""

    line: int
    source: str
    status: Status
    value: Any = None
    has_value: bool = False
    delta: dict[str, Any] | None = None
    masked_error: str | None = None
    error: str | None = None
    ms: float = 0.0
    target: str | None = None
    how: How | None = None
    request: dict[str, Any] | None = field(default=None, repr=False)
    bindings: dict[str, str] | None = None
    memo_key: str | None = field(default=None, repr=False)
    site_id: int | None = field(default=None, repr=False)
    #: How sure the LM was of this answer, in [0, 1]; None: the endpoint gave no log-probabilities
    #: (:mod:`lmulator.lm.confidence`). Meaningful where :attr:`scored`.
    confidence: float | None = None

    @property
    def scored(self) -> bool:
        """Whether the record holds an answer from the LM, and so a confidence (or None)."""
        return self.how in SCORED_HOWS

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict, without empty fields."""
        out: dict[str, Any] = {"line": self.line, "source": self.source, "status": self.status}
        if self.has_value:
            out["value"] = jsonable(self.value)
        if self.delta is not None:
            out["delta"] = {k: jsonable(v) for k, v in self.delta.items()}
        for key in ("masked_error", "error", "target", "how", "bindings", "request"):
            val = getattr(self, key)
            if val is not None:
                out[key] = val
        if self.scored:
            out["confidence"] = self.confidence
        out["ms"] = round(self.ms, 1)
        return out


def describe(record: TraceRecord, with_ms: bool = True, limit: int = 60) -> str:
    """One short phrase for what the LM supplied at a record (its time too, with ``with_ms``)."""
    if record.status == "error":
        return f"error: {record.error}"
    if record.delta is not None:
        body = ", ".join(f"{k} = {short_repr(v, limit)}" for k, v in record.delta.items())
        text = f"{{{body}}}" if body else "(no change)"
    elif record.has_value:
        text = short_repr(record.value, limit)
        if record.target:
            text = f"{record.target} → {text}"
    else:
        text = ""
    if record.scored:
        text += f"  [{describe_confidence(record.confidence)}]"
    if record.how == "invented":
        text += f"  [{INVENTED_NOTE}" + (
            f": {record.masked_error}]" if record.masked_error else "]"
        )
    elif record.masked_error:
        text += f"  [masked {record.masked_error}]"
    if with_ms and record.how == "lm" and record.ms >= 1:
        text += f" ({record.ms:.0f} ms)"
    return text


def mark_of(records: list[TraceRecord]) -> str:
    """A line's mark: ``!`` where the LM failed, ``?`` where it invented the world's result,
    ``~`` where it emulated."""
    if any(r.status == "error" for r in records):
        return ERROR_MARK
    if any(r.how == "invented" for r in records):
        return INVENTED_MARK
    return EMULATED_MARK


def listing(
    source: str, records: list[TraceRecord], width: int = 120, only: set[int] | None = None
) -> str:
    """The program with emulated lines flagged and what the LM supplied beside them (or, where
    that would pass ``width``, wrapped under them: code and values are never cut); ``only``
    keeps just those line numbers."""
    by_line: dict[int, list[TraceRecord]] = {}
    for rec in records:
        if rec.status != "ran":
            by_line.setdefault(rec.line, []).append(rec)
    lines = source.splitlines() or [""]
    number_width = len(str(len(lines)))
    out = []
    for i, text in enumerate(lines, start=1):
        if only is not None and i not in only:
            continue
        recs = by_line.get(i, [])
        flag = mark_of(recs) if recs else " "
        row = f"{flag} {i:>{number_width}} │ {text}"
        if recs:
            notes = []
            for rec in recs[:3]:
                notes.append(describe(rec, limit=200))
            if len(recs) > 3:
                notes.append(f"… {len(recs) - 3} more")
            inline = f"{row}    ⇐ {'; '.join(notes)}"
            if len(inline) <= width:
                out.append(inline)
                continue
            out.append(row)
            indent = " " * (number_width + 4) + "⇐ "
            for note in notes:
                out.extend(
                    textwrap.wrap(
                        note,
                        max(width, len(indent) + 20),
                        initial_indent=indent,
                        subsequent_indent=" " * len(indent),
                        break_on_hyphens=False,
                    )
                )
            continue
        out.append(row)
    return "\n".join(out)


@dataclass
class RunResult:
    """What running one cell produced."""

    source: str
    name: str
    value: Any = None
    has_value: bool = False
    trace: list[TraceRecord] = field(default_factory=list)
    error: BaseException | None = None
    exit_value: Any = None
    #: The genuine errors the LM's values and deltas stood in for, in order.
    masked: list[MaskedError] = field(default_factory=list)
    #: Whether ``value`` came from the LM (see `lmulator.engine.masking`); None: from Python.
    value_origin: Origin | None = None
    #: What the cell spent on the LM (calls, tokens, seconds); None: it ran unmetered.
    lm_spent: Spent | None = None

    @property
    def ok(self) -> bool:
        """Whether the cell ran to its end."""
        return self.error is None

    @property
    def emulated(self) -> list[TraceRecord]:
        """The records of what the LM supplied."""
        return [r for r in self.trace if r.status == "emulated"]

    def raise_for_error(self) -> None:
        """Raise the cell's error, if it had one."""
        if self.error is not None:
            raise self.error
