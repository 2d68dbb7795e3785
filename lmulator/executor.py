"""The old import path of `Session` (`lmulator.engine.session`), kept for code written against it."""

from .engine.session import RunResult, Session

__all__ = ["RunResult", "Session"]
