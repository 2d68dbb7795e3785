"""Run code under the restricted policy and say whether it was refused."""

from __future__ import annotations

from lmulator.config import Config
from lmulator.engine.session import RunResult, Session
from lmulator.policy.policy import PolicyViolation
from lmulator.policy.refusals import PolicyError


def run(source: str, policy: str = "restricted") -> RunResult:
    """Run a cell in a fresh python-mode session (nothing is emulated)."""
    return Session(Config(mode="python"), policy=policy).run(source)


def ok(source: str, policy: str = "restricted") -> RunResult:
    """Run a cell that must succeed."""
    result = run(source, policy)
    assert result.error is None, f"{source!r} failed: {result.error!r}"
    return result


def refused(source: str) -> BaseException:
    """Run a cell the policy must refuse, at compile time or while running."""
    result = run(source)
    err = result.error
    assert isinstance(err, (PolicyViolation, PolicyError, ImportError, AttributeError)), (
        f"{source!r} was not refused: {err!r}"
    )
    return err


def value(source: str) -> object:
    """The value of a cell's final expression."""
    result = ok(source)
    assert result.has_value
    return result.value
