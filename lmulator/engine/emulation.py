"""Emulation: the LM's value for an expression, or its state delta for a failing statement."""

from __future__ import annotations

import keyword
import time
import types
from collections.abc import Iterable
from typing import Any, Protocol

from ..config import Config
from ..errors import EmulationAbort, EmulationError, LmulatorError, Refusal
from ..lm.client import requests_end_by
from ..lm.emulator import Emulator, Request, cap_context, make_memo_key
from ..partial.standin import StandIn, dress
from ..policy.policy import Policy
from .instrument.sites import Site
from .recorder import Recorder
from .trace import TraceRecord, state_repr

# Exceptions that mean "something is not defined here", as opposed to a genuine bug.
MISSING_DEFINITION_ERRORS: tuple[type[BaseException], ...] = (NameError, ImportError)


class SessionState(Protocol):
    """What a session's collaborators read from it (each may change between cells)."""

    config: Config
    policy: Policy
    namespace: dict[str, Any]
    emulator: Emulator
    protected_names: frozenset[str]
    lm_deadline: float | None
    delta_overrides: dict[int, dict[str, Any]]


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for an exception, even one whose ``__str__`` fails."""
    try:
        text = str(exc)
    except Exception:  # the program's own __str__ failed: its error is still its own
        text = "<str() of the exception failed>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Emulation:
    """Asks the session's emulator about sites, and records each answer in the trace."""

    def __init__(self, state: SessionState, recorder: Recorder) -> None:
        self.state = state
        self.recorder = recorder

    def emulates(self, exc: BaseException) -> bool:
        """Whether a failing statement with this exception is handed to the LM."""
        if isinstance(exc, (Refusal, MemoryError, LmulatorError)) or getattr(
            exc, "isolated", False
        ):
            # A refusal, an exhausted resource, the engine's own error or an error from an
            # isolated process is not a gap for the LM to fill.
            return False
        config = self.state.config
        if not config.emulate_statements:
            return False
        if config.raise_errors:
            return isinstance(exc, MISSING_DEFINITION_ERRORS)
        return True

    def builtin_names(self) -> frozenset[str]:
        """The builtins the session's policy gives its namespace."""
        return self.state.policy.builtin_names(self.state.namespace)

    def forbidden_keys(self) -> frozenset[str]:
        """Names a delta may never bind: builtins not shadowed by the user, guards, hooks."""
        ns = self.state.namespace
        return (
            frozenset(n for n in self.builtin_names() if n not in ns)
            | frozenset(k for k in ns if k.startswith("_"))
            | self.state.protected_names
        )

    def state_for(self, names: Iterable[str], local_vars: dict[str, Any]) -> dict[str, str]:
        """Reprs of the bound names among ``names``, locals first."""
        state: dict[str, str] = {}
        ns = self.state.namespace
        for n in names:
            if n.startswith("_"):
                continue
            if n in local_vars:
                state[n] = state_repr(local_vars[n])
            elif n in ns:
                state[n] = state_repr(ns[n])
        return state

    def check_lm_budget(self) -> None:
        """Refuse to ask the LM once the session's ``lm_deadline`` (monotonic) has passed."""
        deadline = self.state.lm_deadline
        if deadline is not None and time.monotonic() > deadline:
            raise EmulationError("no time left to ask the LM in this run")

    def value(
        self,
        site: Site,
        target: str,
        *,
        memo: tuple,
        definition: bool = False,
        state: dict[str, str] | None = None,
        error: BaseException | None = None,
    ) -> Any:
        """Ask the LM for the value of ``target`` at ``site``; record it in the trace."""
        rec = self.recorder
        if self.state.config.lm == "off":
            value = StandIn(target)
            rec.record_resolution(site, target, value, "stand-in")
            return value
        line, line_text = rec.locate(site)
        req = Request(
            kind="value",
            target=target,
            line=line,
            statement=rec.line_text(site) if site.kind != "stub" else line_text,
            context=cap_context(rec.cells.get(site.cell, ""), site.line),
            state=state or {},
            error=describe_error(error) if error is not None else None,
            definition=site.stub_source if definition else None,
            expect=site.expect,
            memo_key=make_memo_key("value", *memo),
        )
        try:
            self.check_lm_budget()
            with requests_end_by(self.state.lm_deadline):
                ex = self.state.emulator.value(req)
        except EmulationError as exc:
            rec.record(TraceRecord(line, line_text, "error", error=str(exc.detail), target=target))
            raise EmulationAbort(exc) from None
        rec.record(
            TraceRecord(
                line=line,
                source=line_text,
                status="emulated",
                value=ex.value,
                has_value=True,
                target=target,
                masked_error=req.error,
                ms=ex.ms,
                how="memo" if ex.cached else "replay" if ex.replayed else "lm",
                request=req.to_dict(),
                memo_key=req.memo_key,
            )
        )
        return ex.value

    def statement_keys(self, site: Site) -> tuple[str, ...]:
        """The names a statement's delta may bind (never a name bound to a module: a delta
        that turned ``datetime`` into a string would break every later use of it)."""
        forbidden = self.forbidden_keys()
        ns = self.state.namespace
        return tuple(
            n
            for n in site.referenced
            if n not in forbidden
            and not n.startswith("_")
            and not keyword.iskeyword(n)
            and not isinstance(ns.get(n), types.ModuleType)
        )

    def statement(
        self, site: Site, exc: BaseException | None, local_vars: dict[str, Any], target: str = ""
    ) -> dict[str, Any]:
        """Ask the LM for the state delta of the statement at ``site``; record it."""
        rec = self.recorder
        keys = self.statement_keys(site)
        line, line_text = rec.locate(site)
        state = self.state_for(site.referenced, local_vars)
        masked = describe_error(exc) if exc is not None else None
        overrides = self.state.delta_overrides
        if site.id in overrides:
            delta = dict(overrides[site.id])
            rec.record(TraceRecord(line, line_text, "emulated", delta=delta, masked_error=masked,
                                   how="overwritten", site_id=site.id))  # fmt: skip
            return delta
        config = self.state.config
        if config.lm == "off":  # the statement is skipped, its failure noted
            rec.record(
                TraceRecord(line, line_text, "emulated", delta={}, masked_error=masked, how="skip")
            )
            return {}
        statement = target or site.source
        req = Request(
            kind="delta",
            target=statement,
            line=site.line,
            statement=statement if "\n" not in statement else rec.line_text(site),
            context=cap_context(rec.cells.get(site.cell, ""), site.line),
            state=state,
            keys=keys,
            error=masked,
            memo_key=make_memo_key("delta", statement, state, keys, masked),
        )
        try:
            self.check_lm_budget()
            with requests_end_by(self.state.lm_deadline):
                ex = self.state.emulator.delta(req, self.forbidden_keys())
        except EmulationError as err:
            if config.partial:  # a partial program goes on: the statement is skipped, as without
                note = f"{masked}; the LM gave no delta ({err.detail})" if masked else None
                rec.record(TraceRecord(line, line_text, "emulated", delta={}, masked_error=note,
                                       how="skip"))  # fmt: skip
                return {}
            rec.record(TraceRecord(line, line_text, "error", error=str(err.detail)))
            raise EmulationAbort(err) from None
        delta = ex.delta or {}
        if config.partial:  # LM values fall back to stand-ins for what they cannot do
            delta = {k: dress(v) for k, v in delta.items()}
        rec.record(
            TraceRecord(
                site_id=site.id,
                line=line,
                source=line_text,
                status="emulated",
                delta=delta,
                masked_error=masked,
                ms=ex.ms,
                how="memo" if ex.cached else "replay" if ex.replayed else "lm",
                request=req.to_dict(),
                memo_key=req.memo_key,
            )
        )
        return delta
