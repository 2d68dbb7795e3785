"""The session: a persistent namespace whose cells run statement by statement, with an LM for
what is missing or fails.

`Session` keeps the public API (run a cell, switch mode, policy or configuration, undo, override
an emulation, re-run from a line); the work is done by its collaborators: `Recorder` (trace,
sites, cell sources), `Emulation` (questions to the LM), `Resolver` (a partial program's missing
pieces), `UndoLog`, `Steps` (one driver per mode) and `Runtime` (the hooks compiled code calls).
"""

from __future__ import annotations

import ast
import itertools
import linecache
from collections.abc import Callable
from typing import Any

from ..config import MODES, Config
from ..errors import CellTimeout, ConfigError
from ..lm.client import ChatClient
from ..lm.emulator import Emulator, Exchange
from ..lm.factory import make_client
from ..lm.replay import ReplayBook
from ..lm.reply import check_delta_key
from ..partial.standin import StandIn, snippet_exit
from ..policy.policy import Policy
from ..reserved import HOOK_PREFIX, STOP_NAME
from ..usage import metering
from .emulation import Emulation
from .instrument.rewriter import Instrumenter
from .instrument.sites import Instrumented
from .instrument.stops import add_stop_checks
from .limits import interrupts_stop, memory_allowance, wall_clock_limit
from .masking import value_origin
from .recorder import Recorder
from .resolution import Resolver
from .runtime import Runtime
from .steps import Steps, future_flags
from .trace import RunResult, TraceRecord, state_repr
from .undo import UndoLog, Undone
from .world import WorldNote, annotate

__all__ = ["RunResult", "Session", "make_client", "state_repr"]

STATEMENT_MODES = ("interweave",)


class Session:
    """A persistent namespace that runs cells under a policy, with an LM for what is missing."""

    @classmethod
    def for_snippets(cls, config: Config | None = None, **kwargs: Any) -> Session:
        """A session for partial code (snippets, lifted function bodies): missing pieces are
        resolved, imports off the list give stand-ins (``partial=True`` and the partial policy,
        which go together)."""
        config = (config or Config()).with_(partial=True)
        return cls(config, policy=Policy("partial"), **kwargs)

    def __init__(
        self,
        config: Config | None = None,
        *,
        policy: Policy | str | None = None,
        client: ChatClient | Callable[[], ChatClient] | None = None,
        emulator: Emulator | None = None,
        module_name: str = "__main__",
        namespace: dict[str, Any] | None = None,
    ) -> None:
        self.config = (config or Config()).validate()
        # A partial program runs under the partial policy unless another is named.
        default = "partial" if self.config.partial else "restricted"
        self.policy = self._own_policy(default if policy is None else policy)
        if emulator is None:
            if client is None:
                emulator = self._new_emulator(self.config)
            else:
                emulator = Emulator(client, prompt_style=self.config.resolved_prompt_style())
        self.emulator = emulator
        self.namespace: dict[str, Any] = {} if namespace is None else namespace
        self.module_name = module_name
        #: Says which top-level statements always run as Python, in every mode (a host's
        #: commands, such as a notebook's magics).
        self.native_statement: Callable[[ast.stmt], bool] | None = None
        # Names the host put in the namespace (get_ipython, display) that no LM reply may bind.
        self.protected_names: frozenset[str] = frozenset()
        # After this monotonic time no LM request is sent, and one under way is cut off (a
        # partial program's time budget): what is missing keeps its stand-in.
        self.lm_deadline: float | None = None
        #: ``from __future__`` features the cells asked for (compiled in; never inherited from
        #: the engine's own modules).
        self.future_flags = 0
        self.delta_overrides: dict[int, dict[str, Any]] = {}
        #: The host's one-line note for a failure from outside the program (what its sandbox
        #: allows), added to a cell's error; the engine itself knows nothing of the sandbox.
        self.world_note: WorldNote | None = None
        self.last_cell: tuple[Instrumented, RunResult] | None = None
        self.history: list[RunResult] = []
        self._cell_counter = itertools.count(1)

        self.recorder = Recorder()
        self.emulation = Emulation(self, self.recorder)
        self.resolver = Resolver(self, self.recorder, self.emulation)
        self.undo_log = UndoLog(self.namespace)
        self.runtime = Runtime(self, self.recorder, self.emulation, self.resolver)
        self.steps = Steps(
            self, self.recorder, self.emulation, self.resolver, self.undo_log, self.runtime.new_step
        )
        self._prepare_namespace()

    # -- configuration -------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The current mode."""
        return self.config.mode

    def set_mode(self, mode: str) -> None:
        """Switch mode; raise ConfigError for an unknown one."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
        self.config = self.config.with_(mode=mode)

    def set_policy(self, policy: Policy | str) -> None:
        """Switch policy; the namespace gets that policy's builtins and guards."""
        self.policy = self._own_policy(policy)
        self._prepare_namespace()

    def _own_policy(self, policy: Policy | str) -> Policy:
        """The policy this session runs under; a partial program changes its gate, so it gets
        a copy of its own (a Policy shared with other sessions stays as it was)."""
        if isinstance(policy, str):
            return Policy(policy)
        return policy.copy() if self.config.partial else policy

    def _prepare_namespace(self) -> None:
        """Give the namespace the policy's builtins and guards, and the runtime's hooks."""
        self.policy.prepare_namespace(self.namespace, self.module_name)
        self.namespace.update(self.runtime.hooks())
        if self.config.partial:  # missing imports give stand-ins, exit() ends the snippet
            self.policy.gate.on_refused = StandIn
            self.namespace["exit"] = self.namespace["quit"] = snippet_exit
            if "sys" in self.policy.gate.synthetic:
                self.policy.gate.synthetic["sys"]["exit"] = snippet_exit

    def set_config(self, config: Config) -> None:
        """Use a new configuration; a changed endpoint, model or record mode gets a new emulator."""
        config = config.validate()
        old = self.config
        lm_fields = ("base_url", "api_key", "model", "temperature", "schema_style", "timeout",
                     "prompt_style", "cache", "record", "record_path")  # fmt: skip
        if any(getattr(old, f) != getattr(config, f) for f in lm_fields):
            self.emulator = self._new_emulator(config)  # may refuse (no replay file): kept as was
        self.config = config

    @staticmethod
    def _new_emulator(config: Config) -> Emulator:
        book = None
        if config.record != "off":
            book = ReplayBook(config.record_path or "", config.record)
        return Emulator(
            lambda: make_client(config), prompt_style=config.resolved_prompt_style(), book=book
        )

    # -- what the host reads -------------------------------------------------------

    def user_names(self) -> dict[str, Any]:
        """The namespace without the engine's own names."""
        return {
            k: v
            for k, v in self.namespace.items()
            if not k.startswith(HOOK_PREFIX)
            and not (k.startswith("_") and k.endswith("_"))
            and not k.startswith("__")
        }

    @property
    def current_trace(self) -> list[TraceRecord]:
        """The trace of the cell running now (or that ran last)."""
        return self.recorder.trace

    @property
    def lm_names(self) -> dict[str, str]:
        """Names whose current value the LM supplied (or was computed from one), with where."""
        return self.undo_log.lm_names

    @property
    def invented_names(self) -> set[str]:
        """The names of ``lm_names`` that hold an invented result of the world (emulate_io)."""
        return self.undo_log.invented

    def emulates(self, exc: BaseException) -> bool:
        """Whether a failing statement with this exception is handed to the LM."""
        return self.emulation.emulates(exc)

    # -- changing what happened ----------------------------------------------------

    def undo(self, cells: int = 1) -> list[str]:
        """Put back what the last cell that emulated something (or the last ``cells`` such
        cells) bound; return the names put back."""
        undone = self.undo_cells(cells) if self.undo_log.cells() else []
        return sorted({n for done in undone for n in done.restored})

    def undo_cells(self, cells: int = 1) -> list[Undone]:
        """``undo``, saying for each cell its lines and names (see ``UndoLog.undo``)."""
        return self.undo_log.undo(cells)

    def override(self, record: TraceRecord, value: Any) -> None:
        """Make the emulation behind a trace record answer ``value`` (a delta for statements)."""
        if not record.memo_key:
            raise ValueError("this record has no emulation to overwrite")
        old = self.emulator.memo.get(record.memo_key)
        req = old.request if old else None
        ex = Exchange(req, cached=False)  # type: ignore[arg-type]
        if record.delta is not None:
            if not isinstance(value, dict):
                raise ValueError("a statement's emulation is a delta: a dict of names to values")
            forbidden = self.emulation.forbidden_keys()
            for key in value:
                check_delta_key(key, set(value), forbidden)
            if record.site_id is not None:
                self.delta_overrides[record.site_id] = dict(value)
            ex.delta = dict(value)
        else:
            ex.value = value
        self.emulator.memo[record.memo_key] = ex

    def rerun_from(self, line: int) -> RunResult:
        """Run the last cell again from the top-level statement holding ``line``.

        Statements before it are not run again; the namespace keeps what they bound.
        """
        if self.last_cell is None:
            raise ValueError("no cell has run yet")
        inst, previous = self.last_cell
        body = inst.tree.body
        start = next(
            (i for i, s in enumerate(body) if s.lineno <= line <= (s.end_lineno or s.lineno)), None
        )
        if start is None:
            raise ValueError(f"line {line} is not in the last cell")
        result = RunResult(source=previous.source, name=previous.name)
        self.recorder.trace = result.trace
        self.recorder.masked = result.masked
        self.recorder.current_cell = previous.name
        try:
            self.steps.run_steps(inst, result, emulate=self.mode in STATEMENT_MODES, start=start)
            self._finish(inst, result)
        finally:
            self.undo_log.cell_ended(previous.name)
        self.last_cell = (inst, result)
        self.history.append(result)
        return result

    # -- running cells ---------------------------------------------------------------

    def _stop(self, exc: BaseException) -> BaseException:
        """Make every loop and call of the running cell raise ``exc`` from now on."""
        self.namespace[STOP_NAME] = exc
        return exc

    def run(self, source: str, name: str | None = None) -> RunResult:
        """Run one cell within the configured limits; the namespace keeps what it binds."""
        limit = self.config.cell_timeout
        self.namespace[STOP_NAME] = None
        with metering(self.config.budget()) as meter:  # a run inside a run shares its meter
            try:
                with (
                    memory_allowance(self.config.memory_bytes()),
                    wall_clock_limit(limit, lambda: self._stop(
                        CellTimeout(f"the cell ran longer than its {limit:g} s limit"))),
                    interrupts_stop(self._stop),
                ):  # fmt: skip
                    result = self._run(source, name)
            except CellTimeout as exc:
                last = self.history[-1] if self.history else None
                fresh = last is None or last.source is not source
                result = RunResult(source, name or "") if fresh or last is None else last
                result.error = exc
            finally:
                self.namespace[STOP_NAME] = None
        result.lm_spent = meter.spent
        return result

    def _finish(self, inst: Instrumented, result: RunResult) -> None:
        """Note what the cell's error and value owe to the world and to the LM."""
        annotate(result.error, self.world_note)
        if result.has_value and inst.top_sites:
            result.value_origin = value_origin(
                (r.how for r in result.trace if r.status == "emulated"),
                inst.top_sites[-1].referenced,
                self.undo_log.lm_names,
                self.undo_log.invented,
            )

    def _run(self, source: str, name: str | None = None) -> RunResult:
        name = name or f"<cell-{next(self._cell_counter)}>"
        result = RunResult(source=source, name=name)
        rec = self.recorder
        self.steps.constants = {}
        rec.trace = result.trace
        rec.masked = result.masked
        rec.current_cell = name
        rec.cells[name] = source
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        try:
            tree = ast.parse(source, filename=name)
            tree = self.policy.check(tree)
            self.future_flags |= future_flags(tree)  # as a notebook does, for later cells too
        except SyntaxError as exc:  # PolicyViolation included
            exc.filename = name
            result.error = exc
            rec.record(
                TraceRecord(
                    exc.lineno or 0, (exc.text or "").strip(), "error", error=str(exc), how="python"
                )
            )
            self.history.append(result)
            return result
        emulating = self.mode in STATEMENT_MODES
        known = set(self.namespace) | set(self.emulation.builtin_names())
        inst = Instrumenter(
            source,
            known,
            rec.ids,
            wrap_statements=emulating,
            value_hooks=emulating,
            record_ran=self.config.trace_level == "full",
            partial=self.config.partial and emulating,
            cell=name,
        ).run(tree)
        add_stop_checks(inst.tree, source)
        rec.sites.update(inst.sites)
        try:
            if self.mode == "lm":
                self.steps.run_lm(inst, result)
            elif self.mode.startswith("try-python-except-lm"):
                self.steps.run_try_python(inst, result)
            else:
                self.steps.run_steps(inst, result, emulate=emulating)
            self._finish(inst, result)
        finally:
            self.undo_log.cell_ended(name)
            self.history.append(result)
            if any(r.status != "ran" for r in result.trace):
                self.last_cell = (inst, result)  # the last cell the LM had a hand in
        return result
