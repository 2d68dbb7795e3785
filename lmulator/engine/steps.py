"""The drivers of a cell's top-level statements, one per kind of mode.

`run_steps` (python, interweave, and the first pass of the try-python modes) runs statements in
turn, each compiled on its own; `run_lm` has the LM emulate every statement; `run_try_python`
runs plain Python and hands the LM the cell, or its rest, where it fails.
"""

from __future__ import annotations
import __future__

import ast
import types
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import EmulationAbort, EmulationError
from ..partial.repair import MAX_NAMES_PER_STATEMENT
from ..partial.standin import SnippetExit
from .emulation import Emulation, SessionState, describe_error
from .instrument.analysis import referenced_names
from .instrument.sites import COMPOUND_STATEMENTS, Instrumented, Site
from .recorder import Recorder
from .resolution import Resolver
from .trace import RunResult, TraceRecord
from .undo import UndoLog


class StepHost(SessionState, Protocol):
    """What the step drivers read from their session, besides `SessionState`."""

    native_statement: Callable[[ast.stmt], bool] | None
    future_flags: int


def _constant_key(value: Any) -> Any:
    if isinstance(value, (tuple, frozenset)):
        return (type(value), tuple(_constant_key(v) for v in value))
    return (type(value), repr(value))


def _shared_constant(value: Any, table: dict[Any, Any]) -> Any:
    """The cell's one object for a constant equal to ``value`` (its items shared first)."""
    if type(value) is tuple:
        items = tuple(_shared_constant(v, table) for v in value)
        if any(a is not b for a, b in zip(items, value, strict=True)):
            value = items
    elif type(value) is not frozenset:
        return value
    return table.setdefault(_constant_key(value), value)


def share_constants(code: types.CodeType, table: dict[Any, Any]) -> types.CodeType:
    """``code`` with its tuple constants shared with earlier statements of the same cell.

    CPython compiles a whole file at once and keeps one object per equal constant, so
    ``item = (5, 5)`` and ``[(0, 0), (5, 5)][1]`` are the same tuple there; the engine compiles
    statement by statement and shares them here, so ``is`` answers as it does in CPython.
    """
    consts = []
    changed = False
    for value in code.co_consts:
        new = value
        if isinstance(value, types.CodeType):
            new = share_constants(value, table)
        elif type(value) in (tuple, frozenset) and value:
            new = _shared_constant(value, table)
        changed |= new is not value
        consts.append(new)
    return code.replace(co_consts=tuple(consts)) if changed else code


def future_flags(tree: ast.Module) -> int:
    """The compiler flags of the ``from __future__`` imports at the top of a cell."""
    flags = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            for alias in stmt.names:
                feature = getattr(__future__, alias.name, None)
                if isinstance(feature, __future__._Feature):
                    flags |= feature.compiler_flag
    return flags


def _run_code(code: types.CodeType, ns: dict[str, Any], as_value: bool, result: RunResult) -> None:
    """Run one compiled top-level statement; an expression's value goes into ``result``."""
    if as_value:
        result.value = eval(code, ns)
        result.has_value = True
    else:
        exec(code, ns)


class Steps:
    """Runs a cell's top-level statements for one session."""

    def __init__(
        self,
        host: StepHost,
        recorder: Recorder,
        emulation: Emulation,
        resolver: Resolver,
        undo: UndoLog,
        new_step: Callable[[], None],
    ) -> None:
        self.host = host
        self.recorder = recorder
        self.emulation = emulation
        self.resolver = resolver
        self.undo = undo
        self._new_step = new_step  # resets the runtime's per-statement state
        self.constants: dict[Any, Any] = {}  # tuple constants shared across a cell's statements

    def _native(self, stmt: ast.stmt) -> bool:
        native = self.host.native_statement
        return native is not None and native(stmt)

    def compile(self, stmt: ast.stmt, name: str, as_value: bool) -> types.CodeType:
        """One top-level statement, compiled with the cell's future flags and constants."""
        flags = self.host.future_flags
        if as_value:
            assert isinstance(stmt, ast.Expr)
            code = compile(ast.Expression(stmt.value), name, "eval", flags, True)
        else:
            code = compile(ast.Module([stmt], []), name, "exec", flags, True)
        return share_constants(code, self.constants)

    def run_steps(
        self,
        inst: Instrumented,
        result: RunResult,
        *,
        emulate: bool,
        start: int = 0,
        stop: int | None = None,
    ) -> int | None:
        """Run top-level statements from ``start`` (to ``stop``); return the index that failed."""
        body = inst.tree.body
        ns = self.host.namespace
        rec = self.recorder
        last = len(body) - 1
        codes = []
        try:
            for i, stmt in enumerate(body):
                codes.append(
                    self.compile(stmt, result.name, i == last and isinstance(stmt, ast.Expr))
                )
        except SyntaxError as exc:  # e.g. `return` outside a function
            exc.filename = result.name
            result.error = exc
            rec.record(
                TraceRecord(
                    exc.lineno or 0, (exc.text or "").strip(), "error", error=str(exc), how="python"
                )
            )
            return 0
        full_trace = self.host.config.trace_level == "full"
        for i in range(start, len(body) if stop is None else stop):
            site = inst.top_sites[i]
            as_value = i == last and isinstance(body[i], ast.Expr)
            self._new_step()
            before = self.undo.snapshot(site.targets)
            mark = len(result.trace)
            try:
                self._exec_top(codes[i], as_value, result, site, body[i])
                if full_trace and not isinstance(body[i], COMPOUND_STATEMENTS):
                    rec.record_ran(site, ns)
            except SnippetExit as done:  # exit(...) in a partial program: a clean end
                if full_trace:
                    rec.record_ran(site, ns)
                result.exit_value = done.value
                return None
            except EmulationAbort as abort:
                result.error = abort.error
                return i
            except SystemExit as exc:  # the program ends itself: its error, never emulated
                result.error = exc
                return i
            except Exception as exc:
                if (
                    not (emulate and self.emulation.emulates(exc))
                    or isinstance(body[i], (ast.Raise, ast.Assert))
                    or self._native(body[i])
                ):
                    result.error = exc
                    rec.record(
                        TraceRecord(site.line, rec.line_text(site), "error",
                                    error=describe_error(exc), how="python")
                    )  # fmt: skip
                    return i
                try:
                    if as_value:
                        state = self.emulation.state_for(site.referenced, ns)
                        result.value = self.emulation.value(
                            site, site.source, memo=("expr", site.source, state),
                            state=state, error=exc,
                        )  # fmt: skip
                        result.has_value = True
                    else:
                        self.undo.apply(self.emulation.statement(site, exc, ns), before)
                except EmulationAbort as abort:
                    result.error = abort.error
                    return i
            finally:
                self.undo.after_step(site, before, result.trace[mark:], body[i])
        return None

    def _exec_top(
        self, code: types.CodeType, as_value: bool, result: RunResult, site: Site, stmt: ast.stmt
    ) -> None:
        """Run one top-level statement; in a partial program, once more after an LM repair."""
        ns = self.host.namespace
        try:
            _run_code(code, ns, as_value, result)
        except Exception as exc:
            undo = None if self._native(stmt) else self.resolver.mend(site, exc)
            if undo is None:
                raise
            try:
                _run_code(code, ns, as_value, result)
            except Exception:
                undo()  # the made-up values come back; the first failure stands
                self.resolver.mended_in_vain(site, MAX_NAMES_PER_STATEMENT)
                raise exc from None

    def run_lm(self, inst: Instrumented, result: RunResult) -> None:
        """``lm`` mode: the LM emulates every top-level statement in turn."""
        body = inst.tree.body
        ns = self.host.namespace
        for i, (stmt, site) in enumerate(zip(body, inst.top_sites, strict=True)):
            last_expr = i == len(body) - 1 and isinstance(stmt, ast.Expr)
            if self._native(stmt):
                if self.run_steps(inst, result, emulate=False, start=i, stop=i + 1) is not None:
                    return
                continue
            try:
                if last_expr:
                    state = self.emulation.state_for(site.referenced, ns)
                    result.value = self.emulation.value(
                        site, site.source, memo=("expr", site.source, state), state=state
                    )
                    result.has_value = True
                else:
                    before = self.undo.snapshot(site.targets)
                    self.undo.apply(self.emulation.statement(site, None, ns), before)
                    self.undo.after_step(site, before, result.trace[-1:], stmt)
            except EmulationAbort as abort:
                result.error = abort.error
                return

    def run_try_python(self, inst: Instrumented, result: RunResult) -> None:
        """Run as plain Python; on failure let the LM emulate the cell, or its rest."""
        ns = self.host.namespace
        before = dict(ns)
        failed = self.run_steps(inst, result, emulate=False)
        if failed is None or isinstance(result.error, (SyntaxError, EmulationError)):
            return
        if result.error is not None and not self.emulation.emulates(result.error):
            return  # a refusal, the world, or (raise_errors) a genuine bug: raised as it is
        if self._native(inst.tree.body[failed]):
            return  # a host command failed: nothing for the LM to emulate
        exc = result.error
        result.error = None
        if result.trace and result.trace[-1].status == "error":
            result.trace.pop()  # the failure is masked by the emulation that follows
        body = inst.tree.body
        if self.host.config.mode == "try-python-except-lm":
            ns.clear()
            ns.update(before)
            first = 0
        else:
            first = failed
        # The rest of the cell, as one statement to emulate.
        last_is_expr = isinstance(body[-1], ast.Expr)
        stmts = body[first:-1] if last_is_expr else body[first:]
        if stmts:
            lines = self.recorder.cells[result.name].splitlines()
            start_line = inst.top_sites[first].line
            end_line = max(getattr(s, "end_lineno", s.lineno) or s.lineno for s in stmts)
            text = "\n".join(lines[start_line - 1 : end_line])
            referenced = tuple(dict.fromkeys(n for s in stmts for n in referenced_names(s)))
            site = Site(
                id=next(self.recorder.ids), kind="stmt", line=start_line, source=text,
                referenced=referenced, assignable=referenced, global_names=referenced,
                top_level=True, cell=result.name,
            )  # fmt: skip
            self.recorder.sites[site.id] = site
            try:
                before = self.undo.snapshot(referenced)
                self.undo.apply(self.emulation.statement(site, exc, ns, target=text), before)
                self.undo.after_step(site, before, result.trace[-1:])
            except EmulationAbort as abort:
                result.error = abort.error
                return
        if last_is_expr:
            self.run_steps(inst, result, emulate=True, start=len(body) - 1)
