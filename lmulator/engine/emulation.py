"""Emulation: the LM's value for an expression, or its state delta for a failing statement."""

from __future__ import annotations

import keyword
import time
import types
from collections.abc import Iterable
from typing import Any, Protocol

from ..config import Config
from ..errors import EmulationAbort, EmulationError, LmulatorError, Refusal
from ..kinds import How
from ..lm.client import requests_end_by
from ..lm.emulator import Emulator, Exchange, Request, cap_context, make_memo_key
from ..partial.standin import StandIn, dress
from ..policy.policy import Policy
from ..usage import BudgetSpent
from .instrument.sites import Site
from .recorder import Recorder
from .trace import TraceRecord, short_repr, state_repr
from .world import is_world_error

# Exceptions that mean "something is not defined here", as opposed to a genuine bug.
MISSING_DEFINITION_ERRORS: tuple[type[BaseException], ...] = (NameError, ImportError)
#: The LM stands in for a genuine error raised at one line of a cell at most this many times a
#: run; after that the error raises as in Python. An error that recurs (a ``KeyError`` in a
#: function called for every permutation) is a bug to show, not a gap to fill once per iteration.
MAX_MASKS_A_LINE = 3


def answer_how(ex: Exchange, invented: bool) -> How:
    """Where an LM answer came from, as its trace record says: invented (the world's result,
    made up under emulate_io), the session's memo, a replay file, or the LM."""
    if invented:
        return "invented"
    return "memo" if ex.cached else "replay" if ex.replayed else "lm"


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
        if is_world_error(exc):  # the world is not made up unless asked (emulate_io)
            return config.emulate_io
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

    def doubt(self, ex: Exchange, shown: str) -> str | None:
        """Why the LM's answer ``ex`` (``shown`` as text) may not enter the state: it is less
        sure than the session's ``min_confidence``, or says nothing of how sure it is; None if
        it may."""
        minimum = self.state.config.min_confidence
        if minimum <= 0:
            return None
        if ex.confidence is None:
            return (f"the LM answered {shown} with no confidence from the endpoint, and "
                    f"min_confidence is {minimum:g}")  # fmt: skip
        if ex.confidence < minimum:
            return (f"the LM was not sure enough of {shown}: confidence {ex.confidence:.2f} is "
                    f"below min_confidence {minimum:g}")  # fmt: skip
        return None

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
        masks: bool = True,
    ) -> Any:
        """Ask the LM for the value of ``target`` at ``site``; record it in the trace.

        The value is invented when ``error`` came from the world (emulate_io); ``masks``:
        ``error`` is a genuine failure that the value hides (not one a made-up value caused).
        """
        rec = self.recorder
        invented = error is not None and is_world_error(error)
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
        doubt = self.doubt(ex, short_repr(ex.value, 60))
        if doubt is not None:
            rec.record(TraceRecord(line, line_text, "error", error=doubt, target=target,
                                   how=answer_how(ex, invented), confidence=ex.confidence,
                                   request=req.to_dict(), memo_key=req.memo_key))  # fmt: skip
            raise EmulationAbort(EmulationError(doubt, line))
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
                how=answer_how(ex, invented),
                confidence=ex.confidence,
                request=req.to_dict(),
                memo_key=req.memo_key,
            )
        )
        if masks:
            self.note_masked(line, error, invented)
        return ex.value

    def note_masked(self, line: int, exc: BaseException | None, invented: bool) -> None:
        """Note a genuine error an LM answer stood in for (a missing definition is none), at
        the running cell's line where it was raised if it was raised there."""
        if exc is None or not (invented or not isinstance(exc, MISSING_DEFINITION_ERRORS)):
            return
        line = self._raised_at(exc) or line
        self.recorder.note_masked(line, describe_error(exc), invented)

    def masked_enough(self, exc: BaseException) -> bool:
        """Whether ``exc``, a genuine error, was raised at a line of the running cell where the
        LM has already stood in for one ``MAX_MASKS_A_LINE`` times this run."""
        if isinstance(exc, MISSING_DEFINITION_ERRORS) or is_world_error(exc):
            return False
        line = self._raised_at(exc)
        if line is None:
            return False
        same = sum(1 for m in self.recorder.masked if m.line == line and not m.invented)
        return same >= MAX_MASKS_A_LINE

    def _raised_at(self, exc: BaseException) -> int | None:
        """The running cell's last line in ``exc``'s traceback (None: not raised in it)."""
        cell, line = self.recorder.current_cell, None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == cell:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line

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
        invented = exc is not None and is_world_error(exc)
        overrides = self.state.delta_overrides
        if site.id in overrides:
            delta = dict(overrides[site.id])
            rec.record(TraceRecord(line, line_text, "emulated", delta=delta, masked_error=masked,
                                   how="overwritten", site_id=site.id))  # fmt: skip
            self.note_masked(line, exc, invented)
            return delta
        config = self.state.config
        if config.lm == "off":  # the statement is skipped, its failure noted
            rec.record(
                TraceRecord(line, line_text, "emulated", delta={}, masked_error=masked, how="skip")
            )
            self.note_masked(line, exc, invented)
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
            if config.partial and not isinstance(
                err, BudgetSpent
            ):  # a partial program goes on: the statement is skipped, as without
                note = f"{masked}; the LM gave no delta ({err.detail})" if masked else None
                rec.record(TraceRecord(line, line_text, "emulated", delta={}, masked_error=note,
                                       how="skip"))  # fmt: skip
                self.note_masked(line, exc, invented)
                return {}
            rec.record(TraceRecord(line, line_text, "error", error=str(err.detail)))
            raise EmulationAbort(err) from None
        doubt = self.doubt(ex, short_repr(ex.delta or {}, 60))
        if doubt is not None:  # even in a partial program: the user asked for sure answers
            rec.record(TraceRecord(line, line_text, "error", error=doubt,
                                   how=answer_how(ex, invented), confidence=ex.confidence,
                                   request=req.to_dict(), memo_key=req.memo_key))  # fmt: skip
            raise EmulationAbort(EmulationError(doubt, line))
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
                how=answer_how(ex, invented),
                confidence=ex.confidence,
                request=req.to_dict(),
                memo_key=req.memo_key,
            )
        )
        self.note_masked(line, exc, invented)
        return delta
