"""Which names the LM supplied, and the bindings each emulated step replaced (for undo)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .instrument.sites import Site
from .trace import TraceRecord

MAX_UNDO = 50
UNBOUND: Any = object()  # a name that had no binding before the step


class UndoLog:
    """Provenance of the namespace's names and the undo stack of emulated steps."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        #: name -> where the LM supplied it ("value at line 3", "delta at line 5").
        self.lm_names: dict[str, str] = {}
        self.stack: list[dict[str, Any]] = []

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

    def after_step(self, site: Site, before: dict[str, Any], records: list[TraceRecord]) -> None:
        """Note which names came from the LM, and keep the step for undo."""
        emulated = [r for r in records if r.status == "emulated"]
        if not emulated:
            for n in site.targets:
                self.lm_names.pop(n, None)
            return
        line = emulated[0].line
        from_delta = {k for r in emulated if r.delta for k in r.delta}
        # A value emulated inside a simple assignment made its targets; inside a loop or a
        # branch the targets may come from elsewhere, so only deltas are attributed there.
        from_value = set(site.targets) if site.simple else set()
        for n in from_value - from_delta:
            self.lm_names[n] = f"value at line {line}"
        for n in from_delta:
            self.lm_names[n] = f"delta at line {line}"
        for n in set(site.targets) - from_value - from_delta:
            self.lm_names.pop(n, None)
        self.stack.append(before)
        del self.stack[:-MAX_UNDO]

    def undo(self) -> list[str]:
        """Put back the bindings the last emulated step changed; return the names touched."""
        if not self.stack:
            return []
        before = self.stack.pop()
        for name, value in before.items():
            if value is UNBOUND:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value
            self.lm_names.pop(name, None)
        return sorted(before)
