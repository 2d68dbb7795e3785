"""How a program's errors are shown: its own frames only, never the engine's."""

from __future__ import annotations

import os
import traceback

from ..errors import EmulationError

# lmulator/, two levels above this file: every engine module lives under it.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_engine_frame(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def strip_engine_frames(exc: BaseException) -> BaseException:
    """Drop the engine's frames from an exception's traceback, in place."""
    tb = exc.__traceback__
    kept = []
    while tb is not None:
        if not _is_engine_frame(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    for a, b in zip(kept, kept[1:], strict=False):
        a.tb_next = b
    if kept:
        kept[-1].tb_next = None
    exc.__traceback__ = kept[0] if kept else None
    return exc


def user_traceback_lines(exc: BaseException) -> list[str]:
    """The traceback of a program's error without the engine's frames."""
    if isinstance(exc, EmulationError):
        return [f"EmulationError: {exc}\n"]
    child_text = getattr(exc, "text", None)
    if hasattr(exc, "type_name") and isinstance(child_text, str) and child_text:
        return [child_text]  # an error from an isolated process, formatted there
    if isinstance(exc, SyntaxError):
        return traceback.format_exception_only(type(exc), exc)
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not _is_engine_frame(f.filename)
    ]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return lines


def format_user_error(exc: BaseException) -> str:
    """``user_traceback_lines`` joined into one text."""
    return "".join(user_traceback_lines(exc))
