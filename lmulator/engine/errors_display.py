"""How a program's errors are shown: its own frames only, never the engine's."""

from __future__ import annotations

import os
import traceback
from types import TracebackType

from ..errors import EmulationError

# lmulator/, two levels above this file: every engine module lives under it.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_engine_frame(filename: str, dirs: tuple[str, ...] = (_PACKAGE_DIR,)) -> bool:
    path = os.path.abspath(filename)
    return any(path.startswith(d + os.sep) for d in dirs)


def _kept(tb: TracebackType | None, dirs: tuple[str, ...]) -> TracebackType | None:
    """A traceback chain relinked without the frames under ``dirs``."""
    kept = []
    while tb is not None:
        if not _is_engine_frame(tb.tb_frame.f_code.co_filename, dirs):
            kept.append(tb)
        tb = tb.tb_next
    for a, b in zip(kept, kept[1:], strict=False):
        a.tb_next = b
    if kept:
        kept[-1].tb_next = None
    return kept[0] if kept else None


def strip_engine_frames(exc: BaseException, *more_dirs: str) -> BaseException:
    """Drop the engine's frames (and those of files under ``more_dirs``, a host's own) from an
    exception's traceback and from those of the exceptions it was raised from, in place."""
    dirs = (_PACKAGE_DIR, *(os.path.abspath(d) for d in more_dirs))
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        err = pending.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        err.__traceback__ = _kept(err.__traceback__, dirs)
        pending.extend(e for e in (err.__cause__, err.__context__) if e is not None)
    handled = _handled_error(exc)
    if exc.__traceback__ is None and handled is not None:
        # Raised in the engine while it handled the program's error (an interrupt or a time
        # limit while the LM was asked about a line): it stopped at that error's line.
        exc.__traceback__ = handled.__traceback__
        exc.__suppress_context__ = True
    return exc


def _handled_error(exc: BaseException) -> BaseException | None:
    """The program's error ``exc`` was raised while handling, if Python would show it."""
    context = exc.__context__
    if exc.__cause__ is not None or exc.__suppress_context__ or context is None:
        return None
    return context


def user_traceback_lines(exc: BaseException) -> list[str]:
    """The traceback of a program's error without the engine's frames."""
    if isinstance(exc, EmulationError):
        return [f"EmulationError: {exc}\n"]
    child_text = getattr(exc, "text", None)
    if hasattr(exc, "type_name") and isinstance(child_text, str) and child_text:
        return [child_text]  # an error from an isolated process, formatted there
    if isinstance(exc, SyntaxError):
        return _exception_only(exc)
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not _is_engine_frame(f.filename)
    ]
    handled = _handled_error(exc)
    if not frames and handled is not None:  # stopped while the engine handled this error
        frames = [
            f
            for f in traceback.extract_tb(handled.__traceback__)
            if not _is_engine_frame(f.filename)
        ]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    lines.extend(_exception_only(exc))
    return lines


def _exception_only(exc: BaseException) -> list[str]:
    """The exception's own lines; ours named as the kernel names them (``CellTimeout: ...``,
    not ``lmulator.errors.CellTimeout: ...``)."""
    shown = traceback.format_exception_only(type(exc), exc)
    qualified = f"{type(exc).__module__}.{type(exc).__qualname__}"
    for i, line in enumerate(shown):
        if qualified.startswith("lmulator.") and line.startswith(qualified):
            shown[i] = type(exc).__name__ + line[len(qualified) :]
            break
    return shown


def format_user_error(exc: BaseException) -> str:
    """``user_traceback_lines`` joined into one text."""
    return "".join(user_traceback_lines(exc))
