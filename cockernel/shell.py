"""The kernel's shell: IPython's, with cells run statement by statement through lmulator."""

from __future__ import annotations

import ast
import contextlib
import contextvars
import linecache
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ipykernel.zmqshell import ZMQInteractiveShell
from IPython.core.interactiveshell import _modified_open as ipython_open
from IPython.display import display, update_display
from traitlets import Any as AnyTrait
from traitlets import Bool, Type

from lmulator.boxnote import note_for_this_box
from lmulator.config import Config, from_env
from lmulator.engine.errors_display import strip_engine_frames
from lmulator.engine.limits import clamp_recursion_limit
from lmulator.engine.masking import masked_summary
from lmulator.engine.session import RunResult, Session
from lmulator.errors import ConfigError, EmulationError
from lmulator.isolation.session import ChildError, IsolatedSession
from lmulator.lm.emulator import Request
from lmulator.lm.progress import DelayedNotice
from lmulator.sandbox.runner import (
    broker_settings,
    cell_finished,
    cell_started,
    current_confinement,
)

from .formatter import MarkingFormatter
from .outputs import SafeDisplayHook, SafeDisplayPublisher, install_comm_filter, restricted_outputs
from .render import OneLineInterrupt, mark_bundle, usage_bundle
from .sandbox import KERNEL_NAMES, RestrictedIPython, kernel_policy, notebook_builtins

PROGRESS_DELAY_S = 0.5
# This package's directory: its frames, like the engine's, are not the cell's (IPython hides
# its own likewise).
KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


class ProgressDisplay(DelayedNotice):
    """One display in the running cell naming what the LM is doing, blanked when done.

    Only for clients a person watches: a request that allows stdin (JupyterLab, Notebook,
    console). Batch clients (nbconvert, papermill, nbval send ``allow_stdin: false``) get no
    progress output at all, so nothing of it is saved in their notebooks.
    """

    def __init__(self, interactive: Callable[[], bool] = lambda: True) -> None:
        super().__init__(PROGRESS_DELAY_S)
        self.interactive = interactive
        self._display_id = ""
        self._cells = 0

    def new_cell(self) -> None:
        """A cell starts: its first notice opens a new display, later ones reuse it."""
        self._cells += 1
        self._display_id = ""

    def put(self, text: str | dict[str, Any]) -> None:
        """Show ``text`` (or a bundle of formats) in this cell's progress display."""
        if not self.interactive():
            return
        bundle = {"text/plain": text} if isinstance(text, str) else text
        if not self._display_id:
            self._display_id = f"lmulator-progress-{id(self)}-{self._cells}"
            display(bundle, raw=True, display_id=self._display_id)
        else:
            update_display(bundle, raw=True, display_id=self._display_id)

    def settle(self, bundle: dict[str, Any], if_shown: bool = False) -> None:
        """Make the progress display (if one is up) show ``bundle`` for good, else display
        ``bundle`` (unless ``if_shown``); later notices of the cell open a display of their
        own."""
        if self._display_id and self.interactive():
            update_display(bundle, raw=True, display_id=self._display_id)
            self._display_id = ""
        elif not if_shown:
            display(bundle, raw=True)

    @contextlib.contextmanager
    def streaming(
        self, what: str, render: Callable[[str], dict[str, Any]], every: float = 1.0
    ) -> Iterator[Callable[[str], None]]:
        """Yield the callback a streamed reply's text so far goes to: until text comes,
        ``what`` is shown with the seconds elapsed (after the usual delay); then
        ``render(text)``, in the same display, updated in place. The caller settles the display
        when the body ends (:meth:`settle`)."""
        lock = threading.Lock()
        started = threading.Event()  # text has come: the counter stops
        done = threading.Event()
        start = time.monotonic()
        ctx = contextvars.copy_context()

        def tick() -> None:
            if done.wait(self.delay):
                return
            while True:
                with lock:
                    if started.is_set():
                        return
                    ctx.run(self.put, f"⋯ {what} ({time.monotonic() - start:.0f} s)")
                if done.wait(every):
                    return

        def on_text(text: str) -> None:
            with lock:
                started.set()
                self.put(render(text))

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield on_text
        finally:
            done.set()
            ticker.join(timeout=2.0)

    def show(self, req: Request) -> None:
        """Put the progress line for a request into the running cell's output."""
        self.put(self.text(req))

    def clear(self) -> None:
        """Blank the progress line."""
        if self._display_id and self.interactive():
            update_display({"text/plain": ""}, raw=True, display_id=self._display_id)

    @contextlib.contextmanager
    def working(self, what: str, every: float = 1.0) -> Iterator[None]:
        """Show ``what`` with the seconds elapsed while the body runs (after the usual delay)."""
        done = threading.Event()
        start = time.monotonic()
        ctx = contextvars.copy_context()

        def tick() -> None:
            if done.wait(self.delay):
                return
            while True:
                ctx.run(self.put, f"⋯ {what} ({time.monotonic() - start:.0f} s)")
                if done.wait(every):
                    return

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join(timeout=2.0)
            self.clear()


def as_reported(error: BaseException) -> BaseException:
    """The error a cell's reply names: an interrupt a magic explained is a KeyboardInterrupt."""
    return KeyboardInterrupt(str(error)) if isinstance(error, OneLineInterrupt) else error


MAGIC_METHODS = frozenset({"run_line_magic", "run_cell_magic", "getoutput", "system"})


def is_magic_statement(stmt: ast.stmt) -> bool:
    """Whether a statement is IPython's spelling of a magic (``%mode lm``, ``x = %who_ls``)."""
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in MAGIC_METHODS
        and isinstance(value.func.value, ast.Call)
        and isinstance(value.func.value.func, ast.Name)
        and value.func.value.func.id == "get_ipython"
    )


class CocShell(ZMQInteractiveShell):
    """A ZMQ shell whose cells run through an lmulator Session on the shell's own namespace."""

    # Every display and result passes through these: under the restricted policy, no script.
    displayhook_class = Type(SafeDisplayHook)
    display_pub_class = Type(SafeDisplayPublisher)
    lm_session = AnyTrait(None, allow_none=True)
    _isolated = AnyTrait(None, allow_none=True)
    lm_program_running = Bool(False)
    last_run = AnyTrait(None, allow_none=True)
    lm_explorer = AnyTrait(None, allow_none=True)  # the %explore widget's controller, kept alive
    # Where the value of a magic's own run (%%coc, %%isolated) came from, for this cell's Out.
    _inner_origin = AnyTrait(None, allow_none=True)
    _sandbox_warned = Bool(False)

    def init_user_ns(self) -> None:
        """Create IPython's namespace, then let lmulator run in it."""
        super().init_user_ns()
        clamp_recursion_limit()  # a recursion the stack cannot hold ends in RecursionError
        try:
            config = from_env().with_(**broker_settings())  # the endpoint the broker serves
        except ConfigError as exc:
            self.log.warning("lmulator: %s; using defaults", exc)
            config = Config()
        self.lm_session = Session(
            config,
            policy=kernel_policy("restricted"),
            namespace=self.user_ns,
            module_name="__main__",
        )
        self.lm_session.native_statement = is_magic_statement  # magics are never emulated
        self.lm_session.protected_names = KERNEL_NAMES
        self.lm_session.world_note = note_for_this_box("cells", "%sandbox shows more")
        self.progress = ProgressDisplay(
            lambda: bool(getattr(self.kernel, "_allow_stdin", False)) if self.kernel else True
        )
        self._attach_progress()
        self._apply_policy_extras()
        install_comm_filter(lambda: restricted_outputs(self))  # widget state, likewise

    def init_display_formatter(self) -> None:
        """IPython's formatter, able to mark a cell's value that came from the LM."""
        self.display_formatter = MarkingFormatter(parent=self)
        self.configurables.append(self.display_formatter)

    def _attach_progress(self) -> None:
        self.progress.attach(self.lm_session.emulator)

    def _apply_policy_extras(self) -> None:
        """Give cells the notebook names their policy allows."""
        ns = self.user_ns
        if self.lm_session.policy.restricted:
            proxy = RestrictedIPython(self)
            ns["get_ipython"] = lambda: proxy
            ns["__builtins__"].update(notebook_builtins())
            ns.pop("open", None)  # IPython's own open(); the policy gives no file access
        else:
            ns["get_ipython"] = self.get_ipython
            ns["open"] = ipython_open

    def var_expand(self, cmd: str, depth: int = 0, formatter: Any = None) -> str:
        """``$name``/``{expr}`` in magic arguments: IPython's expansion evaluates Python past
        every guard, so under the restricted policy the line is passed on as written."""
        if self.lm_session is not None and self.lm_session.policy.restricted:
            return cmd
        if formatter is None:
            return super().var_expand(cmd, depth + 1)
        return super().var_expand(cmd, depth + 1, formatter)

    def set_lm_policy(self, name: str) -> None:
        """Switch the cells' policy (restricted or trusted)."""
        self.lm_session.set_policy(kernel_policy(name))
        self._apply_policy_extras()

    def set_lm_config(self, config: Config) -> None:
        """Use a new lmulator configuration."""
        self.lm_session.set_config(config)
        self._attach_progress()

    def isolated_session(self, restart: bool = False) -> IsolatedSession:
        """The kernel's isolated child process (its policy is the one in force when it started)."""
        if restart and self._isolated is not None:
            self._isolated.close()
            self._isolated = None
        session = self.lm_session
        config = session.config
        if config.record != "off":
            config = config.with_(record="off")  # the child's replies are not recorded
        if self._isolated is None:
            self._isolated = IsolatedSession(config, policy=session.policy.name)
        elif self._isolated.config != config:
            self._isolated.set_config(config)  # %mode, %limits and %lm changes follow
        return self._isolated

    async def run_ast_nodes(
        self,
        nodelist: list[ast.stmt],
        cell_name: str,
        interactivity: str = "last_expr",
        compiler: Any = compile,
        result: Any = None,
    ) -> bool:
        """Run the cell through lmulator instead of exec; show value, marks and errors."""
        if not nodelist:
            return False
        cached: Any = linecache.cache.get(cell_name)
        source = "".join(cached[2]) if cached else "\n".join(ast.unparse(n) for n in nodelist)
        self._warn_unconfined_once()
        self.progress.new_cell()
        self._inner_origin = None
        cell_started(self.lm_session.config.cell_timeout)  # the repr and display count too
        try:
            return self._run_and_show(source, cell_name, nodelist, interactivity, result)
        finally:
            cell_finished()

    def _run_and_show(
        self, source: str, cell_name: str, nodelist: list[ast.stmt], interactivity: str,
        result: Any,
    ) -> bool:  # fmt: skip
        """Run a cell's source through lmulator; show its value, marks and error."""
        try:
            run = self.lm_session.run(source, name=cell_name)
        except KeyboardInterrupt as exc:
            self._show_interrupt(exc)
            if result is not None:
                result.error_in_exec = as_reported(exc)
            return True
        self.last_run = run
        show_value = interactivity != "none" and isinstance(nodelist[-1], ast.Expr)
        if run.has_value and show_value and run.error is None:
            formatter = self.display_formatter
            with (
                formatter.marking(run.value_origin or self._inner_origin)
                if isinstance(formatter, MarkingFormatter)
                else contextlib.nullcontext()
            ):
                self.displayhook(run.value)
        marks = mark_bundle(source, run.trace)
        if marks is not None:
            data, metadata = marks
            display(data, metadata=metadata, raw=True)
        if run.lm_spent is not None and run.lm_spent.calls:
            data, metadata = usage_bundle(run.lm_spent)
            display(data, metadata=metadata, raw=True)
        self.report_masked(run)
        if run.error is not None:
            self._show_run_error(run)
            if result is not None:
                result.error_in_exec = as_reported(run.error)
            return True
        return False

    def report_masked(self, run: RunResult) -> None:
        """Name on stderr the genuine errors the LM masked in a run (one line each kind)."""
        for line in masked_summary(
            run.masked, "%lm raise_errors=on to stop there", "%lm emulate_io=off to raise it"
        ):
            print(line, file=sys.stderr)

    def note_inner_run(self, run: RunResult) -> None:
        """A magic ran a program of its own (%%coc, %%isolated): its masked errors are named,
        and where its value came from marks the cell's value."""
        self._inner_origin = run.value_origin
        self.report_masked(run)

    def _warn_unconfined_once(self) -> None:
        """Say once, on stderr, that cells are not confined by the operating system."""
        if self._sandbox_warned:
            return
        self._sandbox_warned = True
        confinement = current_confinement()
        if confinement is None:
            print("cockernel: cells are NOT confined: the kernel was started without its broker "
                  "(LMULATOR_SANDBOX=off)", file=sys.stderr)  # fmt: skip
        elif not confinement.confined:
            print(f"cockernel: {confinement.describe()}", file=sys.stderr)

    def _show_interrupt(self, exc: KeyboardInterrupt) -> None:
        """An interrupt: the cell's own frames, or the one line a magic said (``%%coc``)."""
        if isinstance(exc, OneLineInterrupt):
            self._showtraceback(KeyboardInterrupt, str(exc), [f"KeyboardInterrupt: {exc}"])
            return
        strip_engine_frames(exc, KERNEL_DIR)  # the cell's own frames only
        self.showtraceback(exc_tuple=(type(exc), exc, exc.__traceback__))

    def _show_run_error(self, run: RunResult) -> None:
        err = run.error
        assert err is not None
        if isinstance(err, KeyboardInterrupt):
            self._show_interrupt(err)
            return
        if isinstance(err, SyntaxError):
            try:
                raise err
            except SyntaxError:
                self.showsyntaxerror(filename=run.name)
            return
        if isinstance(err, EmulationError):
            self._showtraceback(type(err), str(err), [f"EmulationError: {err}"])
            return
        if isinstance(err, ChildError):  # from %%isolated: the child's own traceback
            self._showtraceback(type(err), str(err), [err.text or f"{err.type_name}: {err}"])
            return
        strip_engine_frames(err, KERNEL_DIR)
        self.showtraceback(exc_tuple=(type(err), err, err.__traceback__))
