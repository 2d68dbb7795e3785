"""Repairs in partial programs: the LM's real value for a made-up one, where a statement failed.

A partial program's missing pieces get stand-ins or values of the type their use fixes, without
the LM (`Session._resolve_root`). Stand-ins absorb nearly anything, so an LM value can only help
where a made-up value made a statement fail (`for c in flag` after `if flag:` made it a boolean).
There, and only there, the LM is asked for the real values of the made-up names the statement
reads; the statement runs again once with them. If it fails again, the made-up values come back
and the statement's first failure stands: a run with the LM never runs fewer lines before its
first failure than the same run without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..errors import EmulationAbort
from .standin import StandIn, dress, fits_uses


class FailingStatement(Protocol):
    """What a repair needs to know of the statement that failed (an engine `Site`)."""

    referenced: tuple[str, ...]
    cell: str
    line: int


#: The most made-up names the LM is asked about for one failing statement.
MAX_NAMES_PER_STATEMENT = 3


class Repairs:
    """The made-up values of a partial program, and the LM's replacements where they failed."""

    def __init__(self, ask: Callable[..., Any]) -> None:
        # ``ask(site, name, memo=..., state=..., error=...)``: the LM's value, recorded in the
        # trace, or EmulationAbort (no value, no time left).
        self._ask = ask
        self._made_up: dict[str, tuple[Any, dict | None]] = {}  # name -> (value, its uses)
        self._asked: set[tuple[str, str, int]] = set()

    def note(self, name: str, value: Any, uses: dict | None) -> None:
        """Remember that ``name`` was given a made-up value (a stand-in or an inferred one)."""
        self._made_up[name] = (value, uses)

    def suspects(self, site: FailingStatement, namespace: dict[str, Any]) -> list[str]:
        """The names the statement reads whose values were made up (or are stand-ins)."""
        found = []
        for name in site.referenced:
            if name not in namespace:
                continue
            value = namespace[name]
            made = self._made_up.get(name)
            if (made is not None and made[0] is value) or isinstance(value, StandIn):
                found.append(name)
        return found[:MAX_NAMES_PER_STATEMENT]

    def mend(
        self,
        site: FailingStatement,
        error: BaseException,
        namespace: dict[str, Any],
        state: dict[str, str],
    ) -> Callable[[], None] | None:
        """Bind the LM's values for the made-up names behind a failure; return their undo."""
        replaced: dict[str, Any] = {}
        for name in self.suspects(site, namespace):
            key = (name, site.cell, site.line)
            if key in self._asked:  # one question per name and statement
                continue
            self._asked.add(key)
            old = namespace[name]
            try:
                value = self._ask(
                    site, name, memo=("repair", name, site.cell, site.line), state=state,
                    error=error,
                )  # fmt: skip
            except EmulationAbort:
                continue
            made = self._made_up.get(name)
            if value is None or fits_uses(value, made[1] if made else None) is not None:
                continue
            if type(value) is type(old) and value == old:
                continue  # the same value would fail the same way
            replaced[name] = old
            namespace[name] = dress(value)
        if not replaced:
            return None

        def undo() -> None:
            for name, old in replaced.items():
                namespace[name] = old

        return undo
