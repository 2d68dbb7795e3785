"""Hooks that instrumented code calls when it meets something missing or a failing statement."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from ..partial.standin import unpack, unpack_iter
from .emulation import Emulation, SessionState
from .instrument.sites import (
    CALL_HOOK,
    LOCALS_HOOK,
    NAME_HOOK,
    PCALL_HOOK,
    RAN_HOOK,
    RETURN_HOOK,
    RUNTIME_NAME,
    STMT_HOOK,
    STUB_HOOK,
    UNPACK_HOOK,
    UNPACK_ITER_HOOK,
    Site,
)
from .lookup import MISSING, lookup, render_call
from .recorder import Recorder
from .resolution import Resolver
from .world import WORLD_BUILTINS, refuse_world_builtin


class Runtime:
    """The object behind the hooks of one session's namespace."""

    def __init__(
        self, state: SessionState, recorder: Recorder, emulation: Emulation, resolver: Resolver
    ) -> None:
        self.state = state
        self.recorder = recorder
        self.emulation = emulation
        self.resolver = resolver
        # How many of the program's own `try` blocks are running (instrumented code counts
        # them): inside one, a failure is the program's to handle, not the LM's.
        self.try_depth = 0

    def new_step(self) -> None:
        """A new top-level statement starts: no `try` block of the program is running."""
        self.try_depth = 0

    def hooks(self) -> dict[str, Any]:
        """The names instrumented code expects in its namespace."""
        return {
            RUNTIME_NAME: self,
            CALL_HOOK: self.call,
            NAME_HOOK: self.name,
            STUB_HOOK: self.stub,
            STMT_HOOK: self.stmt,
            RETURN_HOOK: self.return_value,
            RAN_HOOK: self.ran,
            PCALL_HOOK: self.pcall,
            UNPACK_HOOK: unpack,
            UNPACK_ITER_HOOK: unpack_iter,
            LOCALS_HOOK: locals,
        }

    def lookup(self, dotted: str) -> Any:
        """The current value of a (dotted) name, or MISSING if it is still undefined."""
        return lookup(self.state.namespace, dotted, self.state.policy.restricted)

    # -- value level -------------------------------------------------------------

    def call(self, site_id: int, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """A call to a function that had no definition when the cell was compiled."""
        fn = self.lookup(name)
        if fn is not MISSING:
            if self.state.config.partial:
                return self.pcall(site_id, fn, *args, **kwargs)
            return fn(*args, **kwargs)
        site = self.recorder.site(site_id)
        if self.state.config.partial:
            return self.resolver.resolve_call(site, name, args, kwargs)
        self._refuse_world_builtin(name)
        target = render_call(name, args, kwargs)
        return self.emulation.value(site, target, memo=("call", target))

    @staticmethod
    def _refuse_world_builtin(name: str) -> None:
        """A builtin that reaches the world (``open``) and that the policy withholds is not a
        gap for the LM: its NameError is raised, as Python would (under ``emulate_io`` the
        failing statement is then invented as a whole)."""
        if name in WORLD_BUILTINS:
            raise refuse_world_builtin(name)

    def pcall(self, site_id: int, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call in a partial program: if it fails only because of a stand-in, a stand-in."""
        return self.resolver.pcall(self.recorder.site(site_id), fn, *args, **kwargs)

    def name(self, site_id: int, dotted: str) -> Any:
        """A read of a name that had no binding when the cell was compiled."""
        value = self.lookup(dotted)
        if value is not MISSING:
            return value
        site = self.recorder.site(site_id)
        if self.state.config.partial:
            return self.resolver.resolve_name(site, dotted)
        self._refuse_world_builtin(dotted.partition(".")[0])
        return self.emulation.value(site, dotted, memo=("name", dotted, site.cell))

    def stub(self, site_id: int) -> Any:
        """Decorator for a function whose body is only a stub: calls go to the LM."""
        site = self.recorder.site(site_id)

        def decorate(fn: Any) -> Any:
            signature = inspect.signature(fn)

            @functools.wraps(fn)
            def emulated(*args: Any, **kwargs: Any) -> Any:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                target = render_call(fn.__name__, bound.args, bound.kwargs)
                return self.emulation.value(
                    site, target, memo=("stub", site.stub_source, target), definition=True
                )

            emulated.lmulator_stub = True  # type: ignore[attr-defined]
            return emulated

        return decorate

    # -- statement level ---------------------------------------------------------

    def _should_raise(self, exc: BaseException) -> bool:
        emulation = self.emulation
        return self.try_depth > 0 or not emulation.emulates(exc) or emulation.masked_enough(exc)

    def stmt(self, site_id: int, exc: Exception, local_vars: dict[str, Any]) -> dict[str, Any]:
        """A statement below the top level failed: apply the LM's delta for it."""
        if self._should_raise(exc):
            raise exc.with_traceback(exc.__traceback__)
        site = self.recorder.site(site_id)
        delta = self.emulation.statement(site, exc, local_vars)
        return self.apply(site, delta, local_vars)

    def return_value(self, site_id: int, exc: Exception, local_vars: dict[str, Any]) -> Any:
        """A ``return`` expression failed: the LM gives the value it would have returned."""
        if self._should_raise(exc):
            raise exc.with_traceback(exc.__traceback__)
        site = self.recorder.site(site_id)
        state = self.emulation.state_for(site.referenced, local_vars)
        target = site.source.removeprefix("return").strip()
        return self.emulation.value(
            site, target, memo=("return", site.source, state), state=state, error=exc
        )

    def ran(self, site_id: int, local_vars: dict[str, Any]) -> None:
        """A statement ran to completion (recorded at the full trace level only)."""
        self.recorder.record_ran(self.recorder.site(site_id), local_vars)

    def apply(self, site: Site, delta: dict[str, Any], local_vars: dict[str, Any]) -> dict:
        """Bind a validated delta; return the part generated code must assign to locals."""
        ns = self.state.namespace
        if site.scope != "function":
            local_vars.update(delta)  # module or class namespace: locals() is the real mapping
            return {}
        to_locals: dict[str, Any] = {}
        for key, value in delta.items():
            if key in site.assignable:
                to_locals[key] = value
            elif key in site.global_names:
                ns[key] = value
            else:
                _update_in_place(local_vars.get(key, MISSING), value)
        return to_locals


def _update_in_place(current: Any, new: Any) -> None:
    """Give an enclosing function's container the LM's contents (it cannot be rebound)."""
    if isinstance(current, list) and isinstance(new, list):
        current[:] = new
    elif isinstance(current, dict) and isinstance(new, dict):
        current.clear()
        current.update(new)
    elif isinstance(current, set) and isinstance(new, (list, set)):
        current.clear()
        current.update(new)
