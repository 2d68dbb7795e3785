"""Line coverage on partial code: how much of each snippet runs, with missing pieces resolved."""

from __future__ import annotations

import ast
import json
import statistics
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Config
from ..engine.session import Session
from ..engine.trace import TraceRecord
from .runner import python_files, run_program


@dataclass
class FileCoverage:
    """Coverage of one file."""

    path: str
    statements: int = 0
    parsed: bool = True
    executed: int = 0
    executed_interweave: int = 0
    timed_out: bool = False
    error: str | None = None
    lm_calls: int = 0
    resolutions: dict[str, int] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        """Share of statement lines run to completion before the first unresolved failure."""
        return self.executed / self.statements if self.statements else 0.0

    @property
    def coverage_interweave(self) -> float:
        """Share of statement lines run when failing statements are emulated and the run goes on."""
        return self.executed_interweave / self.statements if self.statements else 0.0


def parse_snippet(source: str) -> tuple[str, ast.Module] | None:
    """The snippet's source (dedented if it must be) and its tree, or None if it does not parse."""
    for text in (source, textwrap.dedent(source)):
        try:
            return text, ast.parse(text)
        except (SyntaxError, ValueError):
            continue
    return None


def statement_lines(tree: ast.AST) -> set[int]:
    """Distinct line numbers of all statements."""
    return {node.lineno for node in ast.walk(tree) if isinstance(node, ast.stmt)}


def _executed(trace: list[TraceRecord], lines: set[int]) -> set[int]:
    return {r.line for r in trace if r.status == "ran"} & lines


def _config(lm: str, emulate_statements: bool, emulate_io: bool = False) -> Config:
    base_url = None if lm in ("none", "local") else lm
    return Config(
        base_url=base_url,
        emulate_io=emulate_io,
        partial=True,
        trace_level="full",
        emulate_statements=emulate_statements,
        lm="off" if lm == "none" else "on",
        cache="off",
    )


#: The share of a file's time limit during which the LM may be asked.
LM_SHARE = 0.6


def measure(
    path: Path, lm: str, seconds: float, raise_errors: bool = False, emulate_io: bool = False
) -> FileCoverage:
    """Run one file twice (stop at the first failure; emulate failures and go on)."""
    out = FileCoverage(str(path))
    parsed = parse_snippet(path.read_text(encoding="utf-8", errors="replace"))
    if parsed is None:
        out.parsed = False
        return out
    source, tree = parsed
    lines = statement_lines(tree)
    out.statements = len(lines)
    emulator = None
    for emulate in (False, True):
        config = _config(lm, emulate_statements=emulate, emulate_io=emulate_io)
        if raise_errors:
            config = config.with_(raise_errors=True)
        # The second run reuses the first run's answers: the same request is asked once.
        session = Session.for_snippets(config, emulator=emulator)
        # The LM may be asked during the first part of the file's time budget only, so that its
        # answers never push a file past the limit (the rest of the run uses stand-ins).
        session.lm_deadline = time.monotonic() + seconds * LM_SHARE
        emulator = session.emulator
        result, timed_out = run_program(session, source, str(path), seconds, exercise=True)
        trace = result.trace if result is not None else session.current_trace
        executed = len(_executed(trace, lines))
        out.lm_calls = session.emulator.requests_sent
        if emulate:
            out.executed_interweave = executed
        else:
            out.executed = executed
            out.timed_out = timed_out
            if result is not None and result.error is not None:
                out.error = f"{type(result.error).__name__}: {result.error}"[:200]
            for rec in trace:
                if rec.status == "emulated" and rec.how:
                    out.resolutions[rec.how] = out.resolutions.get(rec.how, 0) + 1
    return out


def run(
    paths: list[str],
    lm: str = "none",
    seconds: float = 10.0,
    json_out: str | None = None,
    raise_errors: bool = False,
    verbose: bool = False,
    out: Callable[[str], None] = print,
    emulate_io: bool = False,
) -> float:
    """Measure every .py file under the paths and print per-file and overall figures."""
    start = time.perf_counter()
    files = python_files(*paths)
    results = []
    for path in files:
        res = measure(path, lm, seconds, raise_errors, emulate_io)
        results.append(res)
        if verbose:
            out(
                f"{res.coverage:6.1%} {res.coverage_interweave:6.1%}  {res.path}  {res.error or ''}"
            )
    wall = time.perf_counter() - start
    empty = sum(1 for r in results if r.parsed and not r.statements)
    counted = [r for r in results if r.statements or not r.parsed]  # no statements: nothing to run
    n = len(counted)
    mean = statistics.mean(r.coverage for r in counted) if counted else 0.0
    mean_iw = statistics.mean(r.coverage_interweave for r in counted) if counted else 0.0
    full = sum(1 for r in results if r.statements and r.executed == r.statements)
    unparsed = sum(1 for r in results if not r.parsed)
    timeouts = sum(1 for r in results if r.timed_out)
    calls = sum(r.lm_calls for r in results)
    hows: dict[str, int] = {}
    for r in results:
        for k, v in r.resolutions.items():
            hows[k] = hows.get(k, 0) + v
    out(
        f"files: {len(results)} under {', '.join(paths)} (lm: {lm}; {unparsed} did not parse, "
        f"counted as 0; {empty} have no statements, left out; {timeouts} hit the {seconds:g} s limit)"
    )
    out(
        "setting: emulate_io "
        + ("on (the LM may invent what files and URLs give)" if emulate_io else "off (files, "
           "URLs and processes that fail raise; stand-ins for missing modules and names)")
        + f"; raise_errors {'on' if raise_errors else 'off'}"
    )  # fmt: skip
    out("resolutions: " + ", ".join(f"{k} {v}" for k, v in sorted(hows.items())))
    if raise_errors:
        surfaced = sum(1 for r in results if r.error and r.error.startswith("TypeError"))
        out(f"real TypeErrors surfaced: {surfaced}/{n}")
    out(f"fully executed: {full}/{n} ({full / n if n else 0:.1%})")
    out(f"coverage with failing statements emulated (interweave): {mean_iw:.1%}")
    out(f"LM calls: {calls}; wall time: {wall:.1f} s")
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(
                [
                    {
                        **asdict(r),
                        "coverage": r.coverage,
                        "coverage_interweave": r.coverage_interweave,
                    }
                    for r in results
                ],
                fh,
                indent=1,
            )
    out(f"mean line coverage: {mean:.1%}")
    return mean
