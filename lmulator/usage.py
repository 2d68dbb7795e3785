"""What a run spends on the LM (calls, tokens, seconds), and the budget that bounds it.

A run opens a :class:`Meter` with :func:`metering`; every request a client sends from that run's
context (its threads included, since they copy the context) is charged to it with
:func:`charge`, and refused with :class:`BudgetSpent` by :func:`check_budget` once the budget's
calls or tokens are used up. Replies from the memo, the cache or a replay file send nothing and
cost nothing. A request under way when the budget runs out finishes; the next one is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .errors import EmulationError

#: The most one reply may say it cost (a larger count is not believed).
MAX_REPORTED = 10_000_000


class BudgetSpent(EmulationError):
    """A run has used the LM calls or tokens its budget allows."""


@dataclass(frozen=True)
class Budget:
    """The most LM calls and tokens (prompt plus completion) one run may spend (0: no bound)."""

    calls: int = 0
    tokens: int = 0

    def __bool__(self) -> bool:
        return bool(self.calls or self.tokens)


@dataclass
class Spent:
    """LM calls sent, tokens they took (as the endpoint counted them), and seconds waited."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def describe(self) -> str:
        """One line: ``LM: 3 calls, 812 prompt + 95 completion tokens, 4.2 s``."""
        calls = f"{self.calls} call{'s' if self.calls != 1 else ''}"
        return (
            f"LM: {calls}, {self.prompt_tokens} prompt + {self.completion_tokens} completion "
            f"tokens, {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-able dict (what the broker sends its runner)."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@dataclass
class Meter:
    """What one run has spent, and its budget."""

    budget: Budget = field(default_factory=Budget)
    spent: Spent = field(default_factory=Spent)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def check(self) -> None:
        """Raise BudgetSpent if another request would go past the budget."""
        budget, spent = self.budget, self.spent
        if budget.calls and spent.calls >= budget.calls:
            raise BudgetSpent(
                f"the LM budget is spent: {spent.calls} of {budget.calls} calls "
                "(%limits calls=N in a notebook, --max-calls on the command line)"
            )
        if budget.tokens and spent.tokens >= budget.tokens:
            raise BudgetSpent(
                f"the LM budget is spent: {spent.tokens} of {budget.tokens} tokens "
                "(%limits tokens=N in a notebook, --max-tokens on the command line)"
            )

    def charge(
        self, calls: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0,
        seconds: float = 0.0,
    ) -> None:  # fmt: skip
        """Add what a request spent."""
        with self._lock:
            self.spent.calls += calls
            self.spent.prompt_tokens += prompt_tokens
            self.spent.completion_tokens += completion_tokens
            self.spent.seconds += seconds


_METER: ContextVar[Meter | None] = ContextVar("lmulator_meter", default=None)


def current_meter() -> Meter | None:
    """The meter requests from this context are charged to (None: no run is metering)."""
    return _METER.get()


@contextmanager
def metering(budget: Budget | None = None, *, fresh: bool = False) -> Iterator[Meter]:
    """Within the block, LM requests are charged to a meter with ``budget``. Where a meter is
    already open (a run inside a run: a ``%%coc`` program inside its cell) that one is used and
    its budget kept, unless ``fresh``."""
    outer = _METER.get()
    if outer is not None and not fresh:
        yield outer
        return
    meter = Meter(budget or Budget())
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def check_budget() -> None:
    """Raise BudgetSpent if the current run's budget allows no further LM request."""
    meter = _METER.get()
    if meter is not None:
        meter.check()


def budget_left() -> bool | None:
    """Whether the current run may send another LM request (None: no run is metering)."""
    meter = _METER.get()
    if meter is None:
        return None
    try:
        meter.check()
    except BudgetSpent:
        return False
    return True


def charge(
    calls: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0, seconds: float = 0.0
) -> None:
    """Charge what a request spent to the current run's meter (if one is open)."""
    meter = _METER.get()
    if meter is not None:
        meter.charge(calls, prompt_tokens, completion_tokens, seconds)


def reported_usage(value: Any) -> tuple[int, int, int] | None:
    """(calls, prompt tokens, completion tokens) from a usage dict another process sent, or
    None where it is not one (missing or out-of-range counts are not believed)."""
    if not isinstance(value, Mapping):
        return None
    counts = []
    for name in ("calls", "prompt_tokens", "completion_tokens"):
        count = value.get(name, 0)
        if isinstance(count, bool) or not isinstance(count, int):
            return None
        if not 0 <= count <= MAX_REPORTED:
            return None
        counts.append(count)
    return counts[0], counts[1], counts[2]
