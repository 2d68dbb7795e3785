"""Which names the LM supplied, and the bindings each emulated step replaced (for undo)."""

from __future__ import annotations

import ast
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .instrument.sites import Site
from .trace import TraceRecord

MAX_UNDO = 50
UNBOUND: Any = object()  # a name that had no binding before the step


@dataclass
class UndoStep:
    """One emulated step: the cell and line it was in, the bindings it replaced, and the
    bindings of those names when its cell ended (None while the cell runs)."""

    cell: str
    line: int
    before: dict[str, Any]
    #: Where each of those names' values came from before the step (lm_names, invented).
    origins: dict[str, tuple[str | None, bool]] = field(default_factory=dict)
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class Undone:
    """What undoing one cell's emulated steps did."""

    cell: str
    lines: tuple[int, ...]
    restored: tuple[str, ...]
    #: Names bound again since the cell ended: their later binding is kept.
    kept: tuple[str, ...] = field(default=())


class UndoLog:
    """Provenance of the namespace's names and the undo stack of emulated steps."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        #: name -> where the LM supplied it ("value at line 3", "delta at line 5", "invented
        #: at line 2"), or the line that computed it from such a name ("from LM values, line 7").
        self.lm_names: dict[str, str] = {}
        #: The names of ``lm_names`` that hold (or were computed from) an invented value.
        self.invented: set[str] = set()
        self.stack: list[UndoStep] = []

    def snapshot(self, names: Iterable[str]) -> dict[str, Any]:
        """The current bindings of ``names`` (UNBOUND where there is none)."""
        ns = self.namespace
        return {n: ns.get(n, UNBOUND) for n in names}

    def apply(self, delta: dict[str, Any], before: dict[str, Any]) -> None:
        """Bind a top-level delta, remembering in ``before`` what it replaces."""
        for key in delta:
            if key not in before:
                before[key] = self.namespace.get(key, UNBOUND)
        self.namespace.update(delta)

    def after_step(
        self,
        site: Site,
        before: dict[str, Any],
        records: list[TraceRecord],
        stmt: ast.stmt | None = None,
    ) -> None:
        """Note which names came from the LM (or were computed from one), and keep an emulated
        step for undo. Without the statement's tree, every name it references counts as read."""
        emulated = [r for r in records if r.status == "emulated"]
        read = [n for n in site.referenced if n in self.lm_names]
        if read and stmt is not None:
            loads = loaded_names(stmt)
            read = [n for n in read if n in loads]
        invented = any(r.how == "invented" for r in emulated) or any(
            n in self.invented for n in read
        )
        # What the step binds, and the containers it references (it may have filled them), hold
        # what it computed: from the LM's values if it emulated anything or read one.
        derived = set(site.targets)
        if emulated or read:
            derived |= {n for n in site.referenced if _may_hold_values(self.namespace.get(n))}
        if not emulated:
            for n in derived:
                if read:
                    where = f"from LM values, line {site.line}"
                    self._taint(n, where, invented, rebound=n in site.targets)
                elif n in site.targets:
                    self._untaint(n)
            return
        line = emulated[0].line
        origins = {n: (self.lm_names.get(n), n in self.invented) for n in before}
        from_delta = {k for r in emulated if r.delta for k in r.delta}
        # A value emulated inside a simple assignment made its targets; inside a loop or a
        # branch the targets may come from elsewhere, so only deltas are attributed there.
        from_value = set(site.targets) if site.simple else set()
        supplied = "invented at" if invented else "value at"
        for n in from_value - from_delta:
            self._taint(n, f"{supplied} line {line}", invented)
        for n in from_delta:
            self._taint(n, f"{'invented at' if invented else 'delta at'} line {line}", invented)
        for n in derived - from_value - from_delta:
            self._taint(n, f"from LM values, line {line}", invented, rebound=n in site.targets)
        self.stack.append(UndoStep(site.cell, line, before, origins))
        del self.stack[:-MAX_UNDO]

    def cell_ended(self, cell: str) -> None:
        """Note the bindings the emulated steps of ``cell`` (the last to run) left at its end."""
        for step in reversed(self.stack):
            if step.cell != cell:
                break
            step.after = self.snapshot(step.before)

    def _taint(self, name: str, where: str, invented: bool, rebound: bool = True) -> None:
        """Note where ``name``'s value came from; a container that was not rebound keeps
        what it held before (and its first origin; an invented item stays invented)."""
        if rebound or name not in self.lm_names:
            self.lm_names[name] = where
        if invented:
            self.invented.add(name)
        elif rebound:
            self.invented.discard(name)

    def _untaint(self, name: str) -> None:
        self.lm_names.pop(name, None)
        self.invented.discard(name)

    def cells(self) -> int:
        """How many cells have emulated steps left to undo."""
        return len(self._groups())

    def _groups(self) -> list[list[UndoStep]]:
        """The stack's steps, one list per cell run (consecutive steps of the same cell)."""
        groups: list[list[UndoStep]] = []
        for step in self.stack:
            if groups and groups[-1][-1].cell == step.cell:
                groups[-1].append(step)
            else:
                groups.append([step])
        return groups

    def undo(self, cells: int = 1) -> list[Undone]:
        """Put back what the emulated steps of the last ``cells`` cells that emulated something
        bound, newest first; a name bound again since its cell ended keeps that binding.
        ValueError, and nothing undone, if fewer cells have steps left."""
        groups = self._groups()
        if cells < 1 or cells > len(groups):
            have = f"{len(groups)} cell{'' if len(groups) == 1 else 's'}"
            raise ValueError(f"only {have} with emulated steps can be undone")
        done = []
        for group in reversed(groups[-cells:]):
            del self.stack[-len(group) :]
            done.append(self._undo_cell(group))
        return done

    def _undo_cell(self, group: list[UndoStep]) -> Undone:
        """Put back the bindings one cell's steps replaced (as they were before its first)."""
        original: dict[str, Any] = {}
        origins: dict[str, tuple[str | None, bool]] = {}
        after: dict[str, Any] = {}
        for step in group:
            for name, value in step.before.items():
                original.setdefault(name, value)
                origins.setdefault(name, step.origins.get(name, (None, False)))
            after.update(step.after or {})
        restored, kept = [], []
        for name, value in original.items():
            now = self.namespace.get(name, UNBOUND)
            if name in after and now is not after[name]:
                kept.append(name)  # rebound since the cell ended
                continue
            if value is UNBOUND:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value
            self._untaint(name)
            where, invented = origins[name]
            if value is not UNBOUND and where is not None:
                self._taint(name, where, invented)  # it came from the LM before, too
            restored.append(name)
        lines = tuple(sorted({step.line for step in group}))
        return Undone(group[0].cell, lines, tuple(sorted(restored)), tuple(sorted(kept)))


def loaded_names(stmt: ast.stmt) -> set[str]:
    """The names a statement reads (an augmented assignment reads its target too)."""
    names = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _may_hold_values(value: Any) -> bool:
    """Whether a bound object may hold values a statement put into it (not a function, class
    or module, nor an immutable scalar)."""
    return value is not None and not isinstance(
        value,
        (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
         types.MethodType, int, float, complex, str, bytes, bool, range),
    )  # fmt: skip
