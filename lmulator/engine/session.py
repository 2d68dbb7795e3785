"""The stepwise executor: runs a cell statement by statement in a persistent namespace."""

from __future__ import annotations
import __future__

import ast
import itertools
import keyword
import linecache
import sys
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config import MODES, Config
from ..errors import (
    CellTimeout,
    ConfigError,
    EmulationAbort,
    EmulationError,
    LmulatorError,
    Refusal,
)
from ..lm.cache import CachedClient, ReplyCache, default_cache_path
from ..lm.client import ChatClient, OpenAIChatClient
from ..lm.emulator import Emulator, Exchange, Request, cap_context, make_memo_key
from ..lm.replay import ReplayBook
from ..lm.reply import check_delta_key
from ..partial.repair import MAX_NAMES_PER_STATEMENT, Repairs
from ..partial.standin import (
    METHOD_TYPES,
    SnippetExit,
    StandIn,
    dress,
    snippet_exit,
    typed_standin,
)
from ..policy.policy import Policy
from .instrument.rewriter import (
    COMPOUND_STATEMENTS,
    HOOK_PREFIX,
    Instrumented,
    Instrumenter,
    Site,
    referenced_names,
)
from .instrument.stops import STOP_NAME, add_stop_checks
from .limits import interrupts_stop, memory_allowance, wall_clock_limit
from .runtime import MISSING_DEFINITION_ERRORS, Runtime, render_call
from .trace import TraceRecord, short_repr

STATEMENT_MODES = ("interweave",)
MAX_UNDO = 50
_UNBOUND = object()
MAX_TRACE_RECORDS = 200_000


@dataclass
class RunResult:
    """What running one cell produced."""

    source: str
    name: str
    value: Any = None
    has_value: bool = False
    trace: list[TraceRecord] = field(default_factory=list)
    error: BaseException | None = None
    exit_value: Any = None

    @property
    def ok(self) -> bool:
        """Whether the cell ran to its end."""
        return self.error is None

    @property
    def emulated(self) -> list[TraceRecord]:
        """The records of what the LM supplied."""
        return [r for r in self.trace if r.status == "emulated"]

    def raise_for_error(self) -> None:
        """Raise the cell's error, if it had one."""
        if self.error is not None:
            raise self.error


def state_repr(value: Any) -> str:
    """How a value is shown to the LM: short, and stable for functions, classes and modules."""
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__}>"
    if isinstance(value, type):
        return f"<class {value.__name__}>"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return f"<function {getattr(value, '__name__', '?')}>"
    return short_repr(value)


def make_client(config: Config) -> ChatClient:
    """The chat client a configuration names (its endpoint, or the embedded model), cached."""
    from ..sandbox.runner import broker_client, brokered

    if brokered():  # a confined runner: the broker holds the key, the cache and the model
        return broker_client(config)
    client: ChatClient
    if not config.base_url:
        from ..lm.local.model import LazyLocalClient, model_path

        client = LazyLocalClient(temperature=config.temperature, timeout=config.timeout)
        endpoint = f"embedded:{model_path().name}"
    else:
        client = OpenAIChatClient(
            config.base_url,
            config.api_key,
            config.model,
            temperature=config.temperature,
            schema_style=config.schema_style,
            timeout=config.timeout,
        )
        endpoint = config.base_url
    if config.cache == "off":
        return client
    path = default_cache_path() if config.cache == "auto" else config.cache
    cached: ChatClient = CachedClient(
        client, ReplyCache(path), f"{endpoint}@t={config.temperature}"
    )
    return cached


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
        policy: Policy | str = "restricted",
        client: ChatClient | Callable[[], ChatClient] | None = None,
        emulator: Emulator | None = None,
        module_name: str = "__main__",
        namespace: dict[str, Any] | None = None,
    ) -> None:
        self.config = (config or Config()).validate()
        self.policy = Policy(policy) if isinstance(policy, str) else policy
        if emulator is None:
            if client is None:
                emulator = self._new_emulator(self.config)
            else:
                emulator = Emulator(client, prompt_style=self.config.resolved_prompt_style())
        self.emulator = emulator
        self.namespace: dict[str, Any] = {} if namespace is None else namespace
        self.module_name = module_name
        self.policy.prepare_namespace(self.namespace, module_name)
        self.runtime = Runtime(self)
        self.namespace.update(self.runtime.hooks())
        #: The made-up values of a partial program, and the LM's repairs where they fail.
        self.repairs = Repairs(self._ask_for_repair)
        if self.config.partial:
            self.policy.gate.on_refused = StandIn
            self.namespace["exit"] = self.namespace["quit"] = snippet_exit
            if "sys" in self.policy.gate.synthetic:
                self.policy.gate.synthetic["sys"]["exit"] = snippet_exit
        self._ids = itertools.count(1)
        self._sites: dict[int, Site] = {}
        self._cells: dict[str, str] = {}
        self._cell_counter = itertools.count(1)
        self._trace: list[TraceRecord] = []
        self._current_cell = ""
        self.lm_names: dict[str, str] = {}
        self.last_cell: tuple[Instrumented, RunResult] | None = None
        self.delta_overrides: dict[int, dict[str, Any]] = {}
        self.undo_stack: list[dict[str, Any]] = []
        self.history: list[RunResult] = []
        #: Says which top-level statements always run as Python, in every mode (a host's
        #: commands, such as a notebook's magics).
        self.native_statement: Callable[[ast.stmt], bool] | None = None
        # Names the host put in the namespace (get_ipython, display) that no LM reply may bind.
        self.protected_names: frozenset[str] = frozenset()
        # After this monotonic time no LM request is sent (a partial program's time budget):
        # what is missing gets a stand-in instead.
        self.lm_deadline: float | None = None
        #: ``from __future__`` features the cells asked for (compiled in; never inherited from
        #: the engine's own modules).
        self.future_flags = 0
        self._constants: dict[Any, Any] = {}  # tuple constants shared across a cell's statements

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
        self.policy = Policy(policy) if isinstance(policy, str) else policy
        self.policy.prepare_namespace(self.namespace, self.module_name)
        self.namespace.update(self.runtime.hooks())

    def set_config(self, config: Config) -> None:
        """Use a new configuration; a changed endpoint, model or record mode gets a new emulator."""
        config = config.validate()
        old = self.config
        lm_fields = ("base_url", "api_key", "model", "temperature", "schema_style", "timeout",
                     "prompt_style", "cache", "record", "record_path")  # fmt: skip
        if any(getattr(old, f) != getattr(config, f) for f in lm_fields):
            self.emulator = self._new_emulator(config)  # may refuse (no replay file): kept as was
        self.config = config

    def _new_emulator(self, config: Config) -> Emulator:
        book = None
        if config.record != "off":
            book = ReplayBook(config.record_path or "", config.record)
        return Emulator(
            lambda: make_client(config), prompt_style=config.resolved_prompt_style(), book=book
        )

    def user_names(self) -> dict[str, Any]:
        """The namespace without the engine's own names."""
        return {
            k: v
            for k, v in self.namespace.items()
            if not k.startswith(HOOK_PREFIX)
            and not (k.startswith("_") and k.endswith("_"))
            and not k.startswith("__")
        }

    # -- helpers for the runtime -------------------------------------------------------

    def site(self, site_id: int) -> Site:
        """A site by id."""
        return self._sites[site_id]

    def emulates(self, exc: BaseException) -> bool:
        """Whether a failing statement with this exception is handed to the LM."""
        if isinstance(exc, (Refusal, MemoryError, LmulatorError)) or getattr(
            exc, "isolated", False
        ):
            # A refusal, an exhausted resource, the engine's own error or an error from an
            # isolated process is not a gap for the LM to fill.
            return False
        if not self.config.emulate_statements:
            return False
        if self.config.raise_errors:
            return isinstance(exc, MISSING_DEFINITION_ERRORS)
        return True

    def _builtin_names(self) -> frozenset[str]:
        return self.policy.builtin_names(self.namespace)

    def forbidden_keys(self) -> frozenset[str]:
        """Names a delta may never bind: builtins not shadowed by the user, guards, hooks."""
        ns = self.namespace
        return (
            frozenset(n for n in self._builtin_names() if n not in ns)
            | frozenset(k for k in ns if k.startswith("_"))
            | self.protected_names
        )

    def state_for(self, names: Iterable[str], local_vars: dict[str, Any]) -> dict[str, str]:
        """Reprs of the bound names among ``names``, locals first."""
        state: dict[str, str] = {}
        builtins_ = self._builtin_names()
        for n in names:
            if n.startswith("_"):
                continue
            if n in local_vars:
                state[n] = state_repr(local_vars[n])
            elif n in self.namespace:
                state[n] = state_repr(self.namespace[n])
            elif n in builtins_:
                continue
        return state

    def _line_text(self, site: Site) -> str:
        return self._cell_line(site.cell, site.line) or (
            site.source.splitlines()[0].strip() if site.source else ""
        )

    def _cell_line(self, cell: str, line: int) -> str:
        lines = self._cells.get(cell, "").splitlines()
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    def _locate(self, site: Site) -> tuple[int, str]:
        """The line of the running cell an emulation belongs to.

        A site in the running cell is its own place; a stub, or a site in a function
        from an earlier cell, is marked at the running cell's line that led to it.
        """
        current = self._current_cell
        if site.cell == current and site.kind != "stub":
            return site.line, self._line_text(site)
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == current:
                return frame.f_lineno, self._cell_line(current, frame.f_lineno)
            frame = frame.f_back
        return site.line, self._line_text(site)

    def _record(self, record: TraceRecord) -> None:
        if len(self._trace) < MAX_TRACE_RECORDS:
            self._trace.append(record)

    @property
    def current_trace(self) -> list[TraceRecord]:
        """The trace of the cell running now (or that ran last)."""
        return self._trace

    def record_ran(self, site: Site, local_vars: dict[str, Any]) -> None:
        """Record that a statement ran, with the bindings it made (full trace level)."""
        if len(self._trace) >= MAX_TRACE_RECORDS:
            return
        bindings = {
            n: state_repr(local_vars[n]) for n in site.targets if n in local_vars
        }  # fmt: skip
        self._trace.append(
            TraceRecord(site.line, self._line_text(site), "ran", bindings=bindings or None)
        )

    def _check_lm_budget(self) -> None:
        """Refuse to ask the LM once ``lm_deadline`` (a monotonic time) has passed."""
        if self.lm_deadline is not None and time.monotonic() > self.lm_deadline:
            raise EmulationError("no time left to ask the LM in this run")

    def emulate_value(
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
        if self.config.lm == "off":
            return self._standin(site, target)
        line, line_text = self._locate(site)
        req = Request(
            kind="value",
            target=target,
            line=line,
            statement=self._line_text(site) if site.kind != "stub" else line_text,
            context=cap_context(self._cells.get(site.cell, ""), site.line),
            state=state or {},
            error=_describe_error(error) if error is not None else None,
            definition=site.stub_source if definition else None,
            expect=site.expect,
            memo_key=make_memo_key("value", *memo),
        )
        try:
            self._check_lm_budget()
            ex = self.emulator.value(req)
        except EmulationError as exc:
            self._record(
                TraceRecord(line, line_text, "error", error=str(exc.detail), target=target)
            )
            raise EmulationAbort(exc) from None
        self._record(
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
        """The names a statement's delta may bind."""
        forbidden = self.forbidden_keys()
        return tuple(
            n
            for n in site.referenced
            if n not in forbidden and not n.startswith("_") and not keyword.iskeyword(n)
        )

    def emulate_statement(
        self, site: Site, exc: BaseException | None, local_vars: dict[str, Any], target: str = ""
    ) -> dict[str, Any]:
        """Ask the LM for the state delta of the statement at ``site``; record it."""
        keys = self.statement_keys(site)
        line, line_text = self._locate(site)
        state = self.state_for(site.referenced, local_vars)
        masked = _describe_error(exc) if exc is not None else None
        if site.id in self.delta_overrides:
            delta = dict(self.delta_overrides[site.id])
            self._record(TraceRecord(line, line_text, "emulated", delta=delta, masked_error=masked,
                                     how="overwritten", site_id=site.id))  # fmt: skip
            return delta
        if self.config.lm == "off":  # the statement is skipped, its failure noted
            self._record(
                TraceRecord(line, line_text, "emulated", delta={}, masked_error=masked, how="skip")
            )
            return {}
        statement = target or site.source
        req = Request(
            kind="delta",
            target=statement,
            line=site.line,
            statement=statement if "\n" not in statement else self._line_text(site),
            context=cap_context(self._cells.get(site.cell, ""), site.line),
            state=state,
            keys=keys,
            error=masked,
            memo_key=make_memo_key("delta", statement, state, keys, masked),
        )
        try:
            self._check_lm_budget()
            ex = self.emulator.delta(req, self.forbidden_keys())
        except EmulationError as err:
            self._record(TraceRecord(line, line_text, "error", error=str(err.detail)))
            raise EmulationAbort(err) from None
        delta = ex.delta or {}
        if self.config.partial:  # LM values fall back to stand-ins for what they cannot do
            delta = {k: dress(v) for k, v in delta.items()}
        self._record(
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

    # -- partial programs: resolution of missing pieces ---------------------------------

    def _record_resolution(self, site: Site, target: str, value: Any, how: str) -> None:
        line, line_text = self._locate(site)
        self._record(
            TraceRecord(
                line, line_text, "emulated", value=value, has_value=True, target=target, how=how
            )
        )

    def _resolve_root(self, site: Site, root: str, method: str | None, expect: dict | None) -> Any:
        """Give a missing name a value, cheapest first: import, type from use, LM, stand-in."""
        gate = self.policy.gate
        if gate.is_allowed(root) and root not in gate.synthetic:
            value, how = gate.import_(root), "import"
        elif method in METHOD_TYPES:
            value, how = METHOD_TYPES[method](root), "inferred"
        elif site.root_uses and site.root_uses.get("caught"):
            value, how = type(root, (Exception,), {}), "inferred"  # an exception class
        elif expect:
            value, how = typed_standin(expect, root), "inferred"
        else:
            value, how = None, ""
        if how:
            self._record_resolution(site, root, value, how)
        else:
            value = self._standin(site, root)
        if how != "import":
            self.repairs.note(root, value, site.root_uses)
        self.namespace[root] = value
        return value

    def _standin(self, site: Site, target: str) -> Any:
        """A stand-in for a missing piece; the LM is asked later, only if it makes a statement
        fail (`Repairs`)."""
        value = StandIn(target)
        self._record_resolution(site, target, value, "stand-in")
        return value

    def resolve_name(self, site: Site, dotted: str) -> Any:
        """A read of a missing (dotted) name in a partial program."""
        root, _, rest = dotted.partition(".")
        method = rest.split(".")[0] if rest else None
        self._resolve_root(site, root, method, None if rest else site.expect)
        return self.runtime.lookup(dotted)

    def resolve_call(self, site: Site, name: str, args: tuple, kwargs: dict) -> Any:
        """A call of a missing function in a partial program."""
        root, _, rest = name.partition(".")
        if rest:
            self._resolve_root(site, root, rest.split(".")[0], None)
            fn = self.runtime.lookup(name)
            return self.runtime.pcall(site.id, fn, *args, **kwargs)
        target = render_call(name, args, kwargs)
        if site.expect:
            value = typed_standin(site.expect, target)
            self._record_resolution(site, target, value, "inferred")
            return value
        return self._standin(site, target)

    def stand_in_for_failed_call(self, site: Site, exc: BaseException) -> Any:
        """A call failed only because a stand-in reached it: its result is a stand-in."""
        value = StandIn(f"{site.name}(...)")
        line, line_text = self._locate(site)
        self._record(
            TraceRecord(line, line_text, "emulated", value=value, has_value=True,
                        target=f"{site.name}(...)", how="stand-in", masked_error=_describe_error(exc))
        )  # fmt: skip
        return value

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
            forbidden = self.forbidden_keys()
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
        self._trace = result.trace
        self._current_cell = previous.name
        self._run_steps(inst, result, emulate=self.mode in STATEMENT_MODES, start=start)
        self.last_cell = (inst, result)
        self.history.append(result)
        return result

    def exercise_definitions(self, result: RunResult, max_items: int = 3) -> int:
        """Call the functions and methods a partial program defined but never ran.

        Each gets stand-ins for its parameters (generators yield up to ``max_items``); the
        first call that fails ends the exercise, as a failing statement ends a run. Returns how
        many were called.
        """
        try:
            tree = ast.parse(result.source)
        except SyntaxError:
            return 0
        ran = {r.line for r in result.trace if r.status == "ran"}
        targets: list[tuple[ast.FunctionDef, str | None]] = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                targets.append((node, None))
            elif isinstance(node, ast.ClassDef):
                targets.extend((n, node.name) for n in node.body if isinstance(n, ast.FunctionDef))
        called = 0
        for fn_node, class_name in targets:
            body_lines = range(fn_node.body[0].lineno, (fn_node.end_lineno or fn_node.lineno) + 1)
            if any(line in ran for line in body_lines):
                continue
            fn = self._bound_callable(fn_node.name, class_name)
            if fn is None:
                continue
            called += 1
            try:
                value = fn(*_standin_args(fn))
                if isinstance(value, types.GeneratorType):
                    for _, _item in zip(range(max_items), value, strict=False):
                        pass
            except SnippetExit:
                continue
            except Exception:
                break
        return called

    def _bound_callable(self, name: str, class_name: str | None) -> Any:
        if class_name is None:
            fn = self.namespace.get(name)
            return fn if isinstance(fn, types.FunctionType) else None
        cls = self.namespace.get(class_name)
        if not isinstance(cls, type):
            return None
        try:
            instance = cls(*_standin_args(cls))
        except Exception:
            try:
                instance = object.__new__(cls)
            except TypeError:
                return None
        fn = getattr(instance, name, None)
        return fn if callable(fn) else None

    # -- running cells ---------------------------------------------------------------

    def _stop(self, exc: BaseException) -> BaseException:
        """Make every loop and call of the running cell raise ``exc`` from now on."""
        self.namespace[STOP_NAME] = exc
        return exc

    def run(self, source: str, name: str | None = None) -> RunResult:
        """Run one cell within the configured limits; the namespace keeps what it binds."""
        limit = self.config.cell_timeout
        self.namespace[STOP_NAME] = None
        try:
            with (
                memory_allowance(self.config.memory_bytes()),
                wall_clock_limit(limit, lambda: self._stop(
                    CellTimeout(f"the cell ran longer than its {limit:g} s limit"))),
                interrupts_stop(self._stop),
            ):  # fmt: skip
                return self._run(source, name)
        except CellTimeout as exc:
            last = self.history[-1] if self.history else None
            result = (
                last
                if last is not None and last.source is source
                else RunResult(source, name or "")
            )
            result.error = exc
            return result
        finally:
            self.namespace[STOP_NAME] = None

    def _run(self, source: str, name: str | None = None) -> RunResult:
        name = name or f"<cell-{next(self._cell_counter)}>"
        result = RunResult(source=source, name=name)
        self._constants = {}
        self._trace = result.trace
        self._current_cell = name
        self._cells[name] = source
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        try:
            tree = ast.parse(source, filename=name)
            tree = self.policy.check(tree)
            self.future_flags |= future_flags(tree)  # as a notebook does, for later cells too
        except SyntaxError as exc:  # PolicyViolation included
            exc.filename = name
            result.error = exc
            self._record(
                TraceRecord(
                    exc.lineno or 0, (exc.text or "").strip(), "error", error=str(exc), how="python"
                )
            )
            self.history.append(result)
            return result
        emulating = self.mode in STATEMENT_MODES
        known = set(self.namespace) | set(self._builtin_names())
        inst = Instrumenter(
            source,
            known,
            self._ids,
            wrap_statements=emulating,
            value_hooks=emulating,
            record_ran=self.config.trace_level == "full",
            partial=self.config.partial and emulating,
            cell=name,
        ).run(tree)
        add_stop_checks(inst.tree, source)
        self._sites.update(inst.sites)
        try:
            if self.mode == "lm":
                self._run_lm(inst, result)
            elif self.mode.startswith("try-python-except-lm"):
                self._run_try_python(inst, result)
            else:
                self._run_steps(inst, result, emulate=emulating)
        finally:
            self.history.append(result)
            if any(r.status != "ran" for r in result.trace):
                self.last_cell = (inst, result)  # the last cell the LM had a hand in
        return result

    def _compile(self, stmt: ast.stmt, name: str, as_value: bool) -> types.CodeType:
        if as_value:
            assert isinstance(stmt, ast.Expr)
            code = compile(ast.Expression(stmt.value), name, "eval", self.future_flags, True)
        else:
            code = compile(ast.Module([stmt], []), name, "exec", self.future_flags, True)
        return share_constants(code, self._constants)

    def _run_steps(
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
        ns = self.namespace
        last = len(body) - 1
        codes = []
        try:
            for i, stmt in enumerate(body):
                codes.append(
                    self._compile(stmt, result.name, i == last and isinstance(stmt, ast.Expr))
                )
        except SyntaxError as exc:  # e.g. `return` outside a function
            exc.filename = result.name
            result.error = exc
            self._record(
                TraceRecord(
                    exc.lineno or 0, (exc.text or "").strip(), "error", error=str(exc), how="python"
                )
            )
            return 0
        for i in range(start, len(body) if stop is None else stop):
            site = inst.top_sites[i]
            as_value = i == last and isinstance(body[i], ast.Expr)
            self.runtime.try_depth = 0
            before = self._snapshot(site.targets)
            mark = len(result.trace)
            try:
                self._exec_top(codes[i], as_value, result, site, body[i])
                if self.config.trace_level == "full" and not isinstance(
                    body[i], COMPOUND_STATEMENTS
                ):
                    self.record_ran(site, ns)
            except SnippetExit as done:  # exit(...) in a partial program: a clean end
                if self.config.trace_level == "full":
                    self.record_ran(site, ns)
                result.exit_value = done.value
                return None
            except EmulationAbort as abort:
                result.error = abort.error
                return i
            except SystemExit as exc:  # the program ends itself: its error, never emulated
                result.error = exc
                return i
            except Exception as exc:
                native = self.native_statement is not None and self.native_statement(body[i])
                if (
                    not (emulate and self.emulates(exc))
                    or isinstance(body[i], (ast.Raise, ast.Assert))
                    or native
                ):
                    result.error = exc
                    self._record(
                        TraceRecord(site.line, self._line_text(site), "error",
                                    error=_describe_error(exc), how="python")
                    )  # fmt: skip
                    return i
                try:
                    if as_value:
                        state = self.state_for(site.referenced, ns)
                        result.value = self.emulate_value(
                            site, site.source, memo=("expr", site.source, state),
                            state=state, error=exc,
                        )  # fmt: skip
                        result.has_value = True
                    else:
                        self._apply_top(self.emulate_statement(site, exc, ns), before)
                except EmulationAbort as abort:
                    result.error = abort.error
                    return i
            finally:
                self._after_step(site, before, result.trace[mark:])
        return None

    def _exec_top(
        self, code: types.CodeType, as_value: bool, result: RunResult, site: Site, stmt: ast.stmt
    ) -> None:
        """Run one top-level statement; in a partial program, once more after an LM repair."""
        ns = self.namespace
        try:
            _run_code(code, ns, as_value, result)
        except Exception as exc:
            if (
                not self.config.partial
                or self.config.lm != "on"
                or isinstance(exc, (Refusal, MemoryError, LmulatorError))
                or (self.native_statement is not None and self.native_statement(stmt))
            ):
                raise
            undo = self.repairs.mend(site, exc, ns, self.state_for(site.referenced, ns))
            if undo is None:
                raise
            try:
                _run_code(code, ns, as_value, result)
            except Exception:
                undo()  # the made-up values come back; the first failure stands
                for rec in self._trace[-MAX_NAMES_PER_STATEMENT:]:
                    if rec.how == "lm" and rec.line == site.line:
                        rec.masked_error = (
                            f"{rec.masked_error or ''}; the statement still failed with the LM's "
                            "value, which was not kept"
                        ).lstrip("; ")
                raise exc from None

    def _ask_for_repair(
        self, site: Site, name: str, *, memo: tuple, state: dict[str, str], error: BaseException
    ) -> Any:
        """The LM's value for a made-up name that a failing statement reads."""
        return self.emulate_value(site, name, memo=memo, state=state, error=error)

    # -- provenance and undo ----------------------------------------------------------

    def _snapshot(self, names: Iterable[str]) -> dict[str, Any]:
        ns = self.namespace
        return {n: ns.get(n, _UNBOUND) for n in names}

    def _apply_top(self, delta: dict[str, Any], before: dict[str, Any]) -> None:
        """Bind a top-level delta, remembering what it replaces."""
        for key in delta:
            if key not in before:
                before[key] = self.namespace.get(key, _UNBOUND)
        self.namespace.update(delta)

    def _after_step(self, site: Site, before: dict[str, Any], records: list[TraceRecord]) -> None:
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
        self.undo_stack.append(before)
        del self.undo_stack[:-MAX_UNDO]

    def undo(self) -> list[str]:
        """Put back the bindings the last emulated step changed; return the names touched."""
        if not self.undo_stack:
            return []
        before = self.undo_stack.pop()
        for name, value in before.items():
            if value is _UNBOUND:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value
            self.lm_names.pop(name, None)
        return sorted(before)

    def _run_lm(self, inst: Instrumented, result: RunResult) -> None:
        """``lm`` mode: the LM emulates every top-level statement in turn."""
        body = inst.tree.body
        ns = self.namespace
        for i, (stmt, site) in enumerate(zip(body, inst.top_sites, strict=True)):
            last_expr = i == len(body) - 1 and isinstance(stmt, ast.Expr)
            if self.native_statement is not None and self.native_statement(stmt):
                if self._run_steps(inst, result, emulate=False, start=i, stop=i + 1) is not None:
                    return
                continue
            try:
                if last_expr:
                    state = self.state_for(site.referenced, ns)
                    result.value = self.emulate_value(
                        site, site.source, memo=("expr", site.source, state), state=state
                    )
                    result.has_value = True
                else:
                    before = self._snapshot(site.targets)
                    self._apply_top(self.emulate_statement(site, None, ns), before)
                    self._after_step(site, before, result.trace[-1:])
            except EmulationAbort as abort:
                result.error = abort.error
                return

    def _run_try_python(self, inst: Instrumented, result: RunResult) -> None:
        """Run as plain Python; on failure let the LM emulate the cell, or its rest."""
        ns = self.namespace
        before = dict(ns)
        failed = self._run_steps(inst, result, emulate=False)
        if failed is None or isinstance(result.error, (SyntaxError, EmulationError)):
            return
        if self.native_statement is not None and self.native_statement(inst.tree.body[failed]):
            return  # a host command failed: nothing for the LM to emulate
        exc = result.error
        result.error = None
        if result.trace and result.trace[-1].status == "error":
            result.trace.pop()  # the failure is masked by the emulation that follows
        body = inst.tree.body
        if self.mode == "try-python-except-lm":
            ns.clear()
            ns.update(before)
            first = 0
        else:
            first = failed
        # The rest of the cell, as one statement to emulate.
        last_is_expr = isinstance(body[-1], ast.Expr)
        stmts = body[first:-1] if last_is_expr else body[first:]
        if stmts:
            lines = self._cells[result.name].splitlines()
            start_line = inst.top_sites[first].line
            end_line = max(getattr(s, "end_lineno", s.lineno) or s.lineno for s in stmts)
            text = "\n".join(lines[start_line - 1 : end_line])
            referenced = tuple(dict.fromkeys(n for s in stmts for n in referenced_names(s)))
            site = Site(
                id=next(self._ids), kind="stmt", line=start_line, source=text,
                referenced=referenced, assignable=referenced, global_names=referenced,
                top_level=True, cell=result.name,
            )  # fmt: skip
            self._sites[site.id] = site
            try:
                before = self._snapshot(referenced)
                self._apply_top(self.emulate_statement(site, exc, ns, target=text), before)
                self._after_step(site, before, result.trace[-1:])
            except EmulationAbort as abort:
                result.error = abort.error
                return
        if last_is_expr:
            tail = len(body) - 1
            self._run_steps(inst, result, emulate=True, start=tail)


def _run_code(code: types.CodeType, ns: dict[str, Any], as_value: bool, result: RunResult) -> None:
    """Run one compiled top-level statement; an expression's value goes into ``result``."""
    if as_value:
        result.value = eval(code, ns)
        result.has_value = True
    else:
        exec(code, ns)


def _standin_args(fn: Any) -> list[Any]:
    """Stand-ins for a callable's required positional parameters."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        StandIn(p.name)
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _describe_error(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # the program's own __str__ failed: its error is still its own
        text = "<str() of the exception failed>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
