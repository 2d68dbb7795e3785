"""The kernel's magics: %lm, %mode, %policy, %limits, %trace, %state, %undo, %explore,
%%coc, %%isolated."""

from __future__ import annotations

import html
import shlex
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from lmulator.config import MODES
from lmulator.engine.limits import wall_clock_paused
from lmulator.engine.session import state_repr
from lmulator.errors import ConfigError, EmulationError
from lmulator.exemplars import program_so_far
from lmulator.isolation.session import IsolationError
from lmulator.policy.refusals import PolicyError
from lmulator.reason import (
    PROGRAM_NAME,
    example_tasks,
    load_examples,
    run_program,
    write_program,
)
from lmulator.sandbox.runner import current_confinement

from .lm_settings import (
    LM_HELP,
    config_with,
    describe_lm,
    notebook_path,
    parse_lm_settings,
    wants_help,
)
from .magic_args import describe_undone, parse_count, parse_limits, program_failure
from .paths import path_in_notebook_dir
from .render import OneLineInterrupt, mark_bundle, marked_records, trace_table
from .sandbox import KERNEL_NAMES

if TYPE_CHECKING:
    from .shell import CocShell


def fail(magic: str, message: object) -> NoReturn:
    """End the cell with one line on why ``magic`` refused (an error reply, no traceback)."""
    raise UsageError(f"{magic}: {message}")


def no_arguments(magic: str, line: str) -> None:
    """Refuse arguments to a magic that takes none."""
    if line.strip():
        fail(magic, f"takes no arguments; got {line.strip()!r}")


@magics_class
class CocMagics(Magics):
    """Magics that show and change how cells are emulated."""

    @property
    def coc_shell(self) -> CocShell:
        """The kernel's shell (these magics are registered on a ``CocShell`` only)."""
        return cast("CocShell", self.shell)

    @property
    def session(self) -> Any:
        """The shell's lmulator session."""
        return self.coc_shell.lm_session

    @line_magic
    def lm(self, line: str) -> None:
        """%lm [key=value ...]: show or set endpoint, model, temperature, cache, record/replay,
        raise_errors, emulate_io (``%lm --help`` lists them)."""
        if wants_help(line):
            print(LM_HELP)
            return
        try:
            changes = parse_lm_settings(line)
            if not changes:
                print(describe_lm(self.session.config, self.session.policy.name))
                return
            config = config_with(
                self.session.config,
                changes,
                self.session.policy.restricted,
                notebook_path(self.coc_shell.user_ns),
            )
            self.coc_shell.set_lm_config(config)
        except (ConfigError, ValueError, PolicyError) as exc:
            fail("%lm", exc)
        print("set " + ", ".join(f"{k}={v}" for k, v in changes.items() if k != "base_url" or v))

    @line_magic
    def sandbox(self, line: str) -> None:
        """%sandbox: show what the operating system lets cells reach (set when the kernel starts)."""
        if line.strip():
            fail(
                "%sandbox",
                "the sandbox is set when the kernel starts and can only be tightened "
                "from outside: start the kernel with LMULATOR_SANDBOX=workspace|read-only|off|"
                "required (and LMULATOR_SANDBOX_READ / LMULATOR_SANDBOX_WRITE for more paths)",
            )
        confinement = current_confinement()
        if confinement is None:
            print("sandbox: off (LMULATOR_SANDBOX=off): cells are NOT confined")
            return
        print(f"sandbox: {confinement.describe()}")
        if confinement.confined:
            print("network: no new sockets, no TCP connections; programs: none may be executed")
            print("readable: " + ", ".join(confinement.readable))

    @line_magic
    def mode(self, line: str) -> None:
        """%mode [interweave|python|lm|try-python-except-lm|try-python-except-lm-state]."""
        name = line.strip()
        if name:
            try:
                self.session.set_mode(name)
            except ConfigError as exc:
                fail("%mode", exc)
        print(f"mode: {self.session.mode}  (modes: {', '.join(MODES)})")

    @line_magic
    def policy(self, line: str) -> None:
        """%policy [restricted|trusted]: show or switch what cells may do."""
        name = line.strip()
        if name:
            if name not in ("restricted", "trusted"):
                fail("%policy", f"choose restricted or trusted; got {name!r}")
            self.coc_shell.set_lm_policy(name)
        p = self.session.policy
        print(f"policy: {p.name}")
        if p.restricted:
            print("allowed imports: " + ", ".join(sorted(p.gate.allowed)))

    @line_magic
    def trace(self, line: str) -> None:
        """%trace: the last cell's trace as a table."""
        no_arguments("%trace", line)
        run = self._last_run()
        records = marked_records(run.trace) if run else []
        if not records:
            print("nothing was emulated in the last cell")
            return
        display(trace_table(records), raw=True)

    def _last_run(self) -> Any:
        history = [
            r
            for r in self.session.history
            if not r.source.lstrip().startswith(("%trace", "get_ipython"))
        ]
        return history[-1] if history else None

    @line_magic
    def state(self, line: str) -> None:
        """%state: the variables, and which came from the LM (``~``; ``?`` invented)."""
        no_arguments("%state", line)
        hidden = set(self.coc_shell.user_ns_hidden)
        names = {
            k: v
            for k, v in self.session.user_names().items()
            if k not in hidden and k not in ("In", "Out")
        }
        if not names:
            print("no variables")
            return
        width = max(len(k) for k in names)
        lines, rows = [], []
        invented = self.session.invented_names
        for k, v in names.items():
            origin = self.session.lm_names.get(k, "")
            mark = ""
            if origin:
                mark = f"? LM, invented ({origin})" if k in invented else f"~ LM ({origin})"
            lines.append(
                f"{k:<{width}}  {type(v).__name__:<10} {state_repr(v)[:60]:<60} {mark}".rstrip()
            )
            rows.append(
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(type(v).__name__)}</td>"
                f"<td><code>{html.escape(state_repr(v)[:80])}</code></td><td>{html.escape(mark)}</td></tr>"
            )
        display(
            {
                "text/plain": "\n".join(lines),
                "text/html": "<table><tr><th>name</th><th>type</th><th>value</th><th>from</th></tr>"
                + "".join(rows)
                + "</table>",
            },
            raw=True,
        )

    @line_magic
    def limits(self, line: str) -> None:
        """%limits [time=S] [memory=MB] [calls=N] [tokens=N]: show or set what one cell may
        take: wall-clock seconds, memory, LM calls, LM tokens (0: no limit)."""
        changes = parse_limits(line)
        if changes:
            try:
                self.coc_shell.set_lm_config(replace(self.session.config, **changes))
            except ConfigError as exc:
                fail("%limits", exc)
        cfg = self.session.config
        time_text = (
            f"{cfg.cell_timeout:g} s" if cfg.cell_timeout else "none (interrupt stops a cell)"
        )
        memory = cfg.memory_bytes() // (1024 * 1024)
        memory_text = f"{memory} MB" if memory else "none"
        if cfg.memory_mb is None:
            memory_text += " (default: half the machine's memory)"
        calls_text = f"{cfg.max_calls}" if cfg.max_calls else "none"
        tokens_text = f"{cfg.max_tokens}" if cfg.max_tokens else "none"
        rows = (("time", time_text), ("memory", memory_text), ("LM calls", calls_text),
                ("LM tokens", tokens_text))  # fmt: skip
        print("\n".join(f"{name + ' per cell':<20}{text}" for name, text in rows))

    @cell_magic
    def isolated(self, line: str, cell: str) -> Any:
        """%%isolated [restart]: run the cell in a child process under rlimits, own namespace."""
        option = line.strip()
        if option not in ("", "restart"):
            fail(
                "%%isolated", f"the only option is restart (a fresh child process); got {option!r}"
            )
        try:
            session = self.coc_shell.isolated_session(restart=option == "restart")
        except (ConfigError, IsolationError) as exc:
            fail("%%isolated", exc)
        with wall_clock_paused():  # the child has its own limit, enforced by a kill
            run = session.run(cell)
        marks = mark_bundle(cell, run.trace)
        if marks is not None:
            display(marks[0], metadata=marks[1], raw=True)
        self.coc_shell.note_inner_run(run)
        if run.error is not None:
            raise run.error
        return run.value if run.has_value else None

    @line_magic
    def undo(self, line: str) -> None:
        """%undo [N]: put back what the last cell that emulated something (or the last N such
        cells) bound; say which cell and which names."""
        cells = parse_count("%undo", line)
        if cells == 1 and not self.session.undo_log.cells():
            print("nothing to undo: no cell's emulated steps are left")
            return
        try:
            undone = self.session.undo_cells(cells)
        except ValueError as exc:
            fail("%undo", f"{exc}; nothing was undone")
        for done in undone:
            print(describe_undone(done, self.cell_label(done.cell)))

    def cell_label(self, name: str) -> str:
        """How the user knows a cell: ``In[3]`` where IPython compiled it, else its name."""
        try:
            return str(self.coc_shell.compile.format_code_name(name)[1])
        except (AttributeError, TypeError, IndexError):
            return name

    @line_magic
    def explore(self, line: str) -> Any:
        """%explore: a widget over the last cell's trace; overwrite a value and re-run from it."""
        no_arguments("%explore", line)
        from .explorer import TraceExplorer

        explorer = TraceExplorer(self.session)
        self.coc_shell.lm_explorer = explorer
        return explorer.widget

    def _coc_examples(self, line: str) -> list[tuple[str, str]] | None:
        """The exemplars ``%%coc --examples`` names: a shipped task, or a file (which, under
        the restricted policy, must be in the notebook's directory)."""
        name = _parse_examples_option(line)
        if name is None:
            return None
        if name not in example_tasks() and self.session.policy.restricted:
            name = path_in_notebook_dir(name, "%%coc --examples")
        return load_examples(name)

    @cell_magic
    def coc(self, line: str, cell: str) -> Any:
        """%%coc [--examples TASK|FILE]: the cell is a question; the LM writes a program for it
        (shown the named task's exemplars, else those of the shipped task most like the
        question), which then runs."""
        question = cell.strip()
        if not question:
            fail("%%coc", "write a question in the cell")
        try:
            examples = self._coc_examples(line)
        except (ValueError, PolicyError) as exc:
            fail("%%coc", exc)
        progress = self.coc_shell.progress
        text = ""

        def writing(so_far: str) -> dict[str, Any]:
            nonlocal text
            text = so_far
            return program_bundle(program_so_far(so_far), "*(the LM is writing it)*")

        try:
            with progress.streaming("the LM is writing a program", writing) as on_text:
                program = write_program(self.session, question, examples, on_text=on_text)
        except KeyboardInterrupt:
            stopped = program_bundle(program_so_far(text), "*(stopped: nothing ran)*")
            progress.settle(stopped, if_shown=True)
            raise OneLineInterrupt("%%coc: stopped while the LM was writing; nothing ran, "
                                   "the namespace is as it was") from None  # fmt: skip
        except EmulationError as exc:
            failed = program_bundle(program_so_far(text), "*(no program: the LM failed)*")
            progress.settle(failed, if_shown=True)
            fail("%%coc", exc)
        self.coc_shell.user_ns[PROGRAM_NAME] = program
        progress.settle(program_bundle(program, f"*(kept as `{PROGRAM_NAME}`)*"))
        ns = self.coc_shell.user_ns
        kernel_names = {n: ns[n] for n in KERNEL_NAMES if n in ns}
        self.coc_shell.lm_program_running = True
        try:
            run = run_program(self.session, program)
        finally:
            self.coc_shell.lm_program_running = False
            rebound = sorted(n for n, v in kernel_names.items() if ns.get(n) is not v)
            ns.update(kernel_names)  # the program may not rebind the kernel's names
        if rebound:
            print(f"%%coc: the program rebound {', '.join(rebound)}; they were put back")
        marks = mark_bundle(run.source, run.trace)
        if marks is not None:
            display(marks[0], metadata=marks[1], raw=True)
        self.coc_shell.note_inner_run(run)
        if run.error is not None:
            fail("%%coc", program_failure(run.error, PROGRAM_NAME))
        return run.value


def program_bundle(program: str, note: str) -> dict[str, Any]:
    """A program the LM wrote (or is writing), as markdown with a note under it, and as text
    (the note alone where there is no program yet)."""
    if not program:
        return {"text/markdown": note, "text/plain": note.strip("*")}
    body = program if program.endswith("\n") or not program else program + "\n"
    return {"text/markdown": f"```python\n{body}```\n{note}", "text/plain": program}


def _parse_examples_option(line: str) -> str | None:
    """The value of ``--examples`` in a ``%%coc`` line (None if absent)."""
    words = shlex.split(line)
    if not words:
        return None
    if len(words) == 2 and words[0] == "--examples":
        return words[1]
    if len(words) == 1 and words[0].startswith("--examples="):
        return words[0].partition("=")[2]
    raise ValueError(f"expected --examples TASK|FILE, got {line.strip()!r}")
