"""Missing pieces of a partial program: imported, typed by their use, or stood in for.

Cheapest first: a name that is a module on the allow-list is imported; one whose use fixes its
type (a method it is called with, ``except name``, a schema from its use) gets a value of that
type; anything else gets a stand-in. The LM is asked only where a made-up value makes a
statement fail (`lmulator.partial.repair`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import LmulatorError, Refusal
from ..kinds import How
from ..partial.repair import Repairs
from ..partial.standin import METHOD_TYPES, StandIn, involves_standin, typed_standin
from .emulation import Emulation, SessionState, describe_error
from .instrument.sites import Site
from .lookup import lookup, render_call
from .recorder import Recorder
from .trace import TraceRecord
from .world import is_world_error


class Resolver:
    """Gives a partial program's missing names and calls their values, and repairs them."""

    def __init__(self, state: SessionState, recorder: Recorder, emulation: Emulation) -> None:
        self.state = state
        self.recorder = recorder
        self.emulation = emulation
        self.repairs = Repairs(self._ask_for_repair)

    def _lookup(self, dotted: str) -> Any:
        return lookup(self.state.namespace, dotted, self.state.policy.restricted)

    def resolve_root(self, site: Site, root: str, method: str | None, expect: dict | None) -> Any:
        """Give a missing name a value, cheapest first: import, type from use, stand-in."""
        gate = self.state.policy.gate
        how: How
        if gate.is_allowed(root) and root not in gate.synthetic:
            value, how = gate.import_(root), "import"
        elif method in METHOD_TYPES:
            value, how = METHOD_TYPES[method](root), "inferred"
        elif site.root_uses and site.root_uses.get("caught"):
            value, how = type(root, (Exception,), {}), "inferred"  # an exception class
        elif expect:
            value, how = typed_standin(expect, root), "inferred"
        else:
            value, how = StandIn(root), "stand-in"
        self.recorder.record_resolution(site, root, value, how)
        if how != "import":
            self.repairs.note(root, value, site.root_uses)
        self.state.namespace[root] = value
        return value

    def resolve_name(self, site: Site, dotted: str) -> Any:
        """A read of a missing (dotted) name."""
        root, _, rest = dotted.partition(".")
        method = rest.split(".")[0] if rest else None
        self.resolve_root(site, root, method, None if rest else site.expect)
        return self._lookup(dotted)

    def resolve_call(self, site: Site, name: str, args: tuple, kwargs: dict) -> Any:
        """A call of a missing function."""
        root, _, rest = name.partition(".")
        if rest:
            self.resolve_root(site, root, rest.split(".")[0], None)
            return self.pcall(site, self._lookup(name), *args, **kwargs)
        target = render_call(name, args, kwargs)
        if site.expect:
            value = typed_standin(site.expect, target)
            self.recorder.record_resolution(site, target, value, "inferred")
            return value
        value = StandIn(target)
        self.recorder.record_resolution(site, target, value, "stand-in")
        return value

    def pcall(self, site: Site, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call that, if it fails only because a stand-in reached it, gives a stand-in."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            # A failure caused by a stand-in is an artifact of the stand-in, even inside the
            # program's own try: it gets a stand-in result, not the program's handler.
            if not involves_standin(fn, *args, *kwargs.values()):
                raise
            return self.stand_in_for_failed_call(site, exc)

    def stand_in_for_failed_call(self, site: Site, exc: BaseException) -> Any:
        """A call failed only because a stand-in reached it: its result is a stand-in."""
        value = StandIn(f"{site.name}(...)")
        line, line_text = self.recorder.locate(site)
        self.recorder.record(
            TraceRecord(line, line_text, "emulated", value=value, has_value=True,
                        target=f"{site.name}(...)", how="stand-in", masked_error=describe_error(exc))
        )  # fmt: skip
        return value

    # -- repairs ------------------------------------------------------------------------

    def mend(self, site: Site, exc: Exception) -> Callable[[], None] | None:
        """After a top-level statement failed: the LM's values for the made-up names it reads
        (bound now), and their undo; None if there is nothing to try."""
        config = self.state.config
        if (
            not config.partial
            or config.lm != "on"
            or isinstance(exc, (Refusal, MemoryError, LmulatorError))
            or (is_world_error(exc) and not config.emulate_io)  # the world is not made up
        ):
            return None
        ns = self.state.namespace
        return self.repairs.mend(site, exc, ns, self.emulation.state_for(site.referenced, ns))

    def mended_in_vain(self, site: Site, names: int) -> None:
        """Note on the LM's last values for ``site`` that the statement failed with them too."""
        for rec in self.recorder.trace[-names:]:
            if rec.how == "lm" and rec.line == site.line:
                rec.masked_error = (
                    f"{rec.masked_error or ''}; the statement still failed with the LM's "
                    "value, which was not kept"
                ).lstrip("; ")

    def _ask_for_repair(
        self, site: Site, name: str, *, memo: tuple, state: dict[str, str], error: BaseException
    ) -> Any:
        """The LM's value for a made-up name that a failing statement reads."""
        return self.emulation.value(site, name, memo=memo, state=state, error=error, masks=False)
