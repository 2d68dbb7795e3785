"""What the LM stood in for: the genuine errors it masked, and whether a cell's value came from it.

A masked error is never silent: the host prints :func:`masked_summary` after the cell. A value
that came from the LM is marked where it is shown (:func:`value_origin` says whether it did).

The rule for a cell's value (sound within a cell, by name across cells): it is ``emulated``
when anything in the cell was emulated before or while it was computed (any emulated record,
a real import aside), or when its expression reads a name that :class:`~.undo.UndoLog` holds as
coming from the LM: bound by an emulated value or delta, or computed at the top level from such a
name (a statement that reads one taints the names it binds, and the containers it references,
which it may have filled). It is ``invented`` when any of that came from an invented result of the
world (``emulate_io``). Not followed: a function's body reading a tainted global in a later cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .world import INVENTED_NOTE

#: Where a cell's value came from, when not from Python alone.
Origin = Literal["emulated", "invented"]

#: Marks for what the LM supplied: emulated (``~``), invented (``?``), failed (``!``).
EMULATED_MARK, INVENTED_MARK, ERROR_MARK = "~", "?", "!"


@dataclass(frozen=True)
class MaskedError:
    """A genuine exception that an LM value or delta stood in for."""

    line: int
    error: str  # ``Type: message``
    invented: bool = False  # a failure from outside the program, invented under emulate_io


def origin_of_records(hows: Iterable[str | None]) -> Origin | None:
    """``invented`` if any emulation was invented, ``emulated`` if any other, else None."""
    found: Origin | None = None
    for how in hows:
        if how == "invented":
            return "invented"
        if how != "import":
            found = "emulated"
    return found


def value_origin(
    cell_hows: Iterable[str | None],
    reads: Iterable[str],
    lm_names: Mapping[str, str],
    invented_names: set[str],
) -> Origin | None:
    """Where a cell's value came from (see the module's rule): the hows of the cell's emulated
    records, and the names its expression reads."""
    origin = origin_of_records(cell_hows)
    if origin == "invented":
        return origin
    tainted = [n for n in reads if n in lm_names]
    if any(n in invented_names for n in tainted):
        return "invented"
    return origin or ("emulated" if tainted else None)


def value_note(origin: Origin) -> str:
    """The words shown beside a value that came from the LM."""
    if origin == "invented":
        return f"{INVENTED_MARK} {INVENTED_NOTE} (the LM made this value up; %trace shows where)"
    return f"{EMULATED_MARK} emulated: the LM supplied this value or one it was computed from"


def masked_summary(masked: list[MaskedError], stop_hint: str, io_hint: str) -> list[str]:
    """One line naming the first genuine error the LM masked (and how many more), and one for
    invented results of the world; ``stop_hint``/``io_hint`` say how to stop each."""
    lines = []
    for invented, hint in ((False, stop_hint), (True, io_hint)):
        found = [m for m in masked if m.invented is invented]
        if not found:
            continue
        first = found[0]
        type_name, _, message = first.error.partition(": ")
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        what = f": {message}" if message else ""
        if invented:
            lines.append(
                f"invented a result for {type_name} at line {first.line}{more}{what}; "
                f"{INVENTED_NOTE}; {hint}"
            )
        else:
            lines.append(f"masked {type_name} at line {first.line}{more}{what}; {hint}")
    return lines
