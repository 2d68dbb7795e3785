"""The magics' argument lines read, and what some of them say back, as plain functions."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from lmulator.engine.undo import Undone
from lmulator.errors import EmulationError
from lmulator.reason import LM_PROGRAM_FILE

#: ``%limits`` words: the Config field each sets, its type, and what its value must be.
LIMIT_WORDS = {
    "time": ("cell_timeout", float, "a number of seconds"),
    "memory": ("memory_mb", int, "a whole number of MB"),
    "calls": ("max_calls", int, "a whole number of LM calls"),
    "tokens": ("max_tokens", int, "a whole number of LM tokens"),
}


def parse_limits(line: str) -> dict[str, Any]:
    """``%limits`` words (``time=S``, ``memory=MB``, ``calls=N``, ``tokens=N``) as Config
    fields; UsageError for any other word or a value that is not a number (nothing is applied
    then)."""
    changes: dict[str, Any] = {}
    for word in line.split():
        key, sep, value = word.partition("=")
        if not sep or key not in LIMIT_WORDS:
            raise UsageError(
                f"%limits: expected time=SECONDS, memory=MB, calls=N or tokens=N; got {word!r}"
            )
        field, kind, what = LIMIT_WORDS[key]
        try:
            changes[field] = kind(value)
        except ValueError:
            raise UsageError(f"%limits: {key} needs {what}; got {value!r}") from None
    return changes


def parse_count(magic: str, line: str) -> int:
    """A magic's optional count argument (1 when absent); UsageError unless a positive integer."""
    text = line.strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{magic}: expected a number of cells (1 or more); got {text!r}")
    return int(text)


def describe_undone(done: Undone, cell: str) -> str:
    """One line on what undoing a cell put back (and kept)."""
    lines = ", ".join(str(n) for n in done.lines)
    where = f"undid {cell} (emulated at line{'s' if len(done.lines) > 1 else ''} {lines})"
    restored = ", ".join(done.restored) if done.restored else "nothing"
    text = f"{where}: restored {restored}"
    if done.kept:
        text += f"; kept {', '.join(done.kept)} (bound again since)"
    return text


def program_failure(error: BaseException, kept_as: str) -> str:
    """Why a program the LM wrote failed, in one line naming its line."""
    line = getattr(error, "line", None) if isinstance(error, EmulationError) else None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == LM_PROGRAM_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f" at line {line}" if line else ""
    detail = str(error).splitlines()[0] if str(error) else ""
    name = type(error).__name__
    return f"the program failed{where}: {name}{': ' + detail if detail else ''} (kept as {kept_as})"
