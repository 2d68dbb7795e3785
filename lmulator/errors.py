"""Errors the engine raises to its callers."""

from __future__ import annotations


class LmulatorError(Exception):
    """Base class of the engine's own errors."""


class Refusal:
    """Mixin of every error by which the policy refuses something (at compile time, at run time,
    an import, a write): a refusal is never handed to the LM as a gap to fill."""


class ConfigError(LmulatorError):
    """The configuration is unusable (unknown mode, no endpoint, bad value)."""


class EmulationError(LmulatorError):
    """The LM could not supply what a line needed."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.detail = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


class EmulationAbort(BaseException):  # noqa: N818 - internal control flow, not an error type
    """Carries an EmulationError out through the program's own ``except Exception``."""

    def __init__(self, error: EmulationError) -> None:
        self.error = error
        super().__init__(str(error))


class ReplyError(LmulatorError):
    """An LM reply does not parse or does not fit the request's schema."""


class CellTimeout(BaseException):  # noqa: N818 - like KeyboardInterrupt, not caught by `except Exception`
    """A cell ran past its wall-clock limit."""
