"""Prompt state files on the embedded model: a task's first question on a server that has
never read its exemplars, against the first question on a fresh server that finds the state
files an earlier one wrote (:mod:`lmulator.lm.local.state_files`), side by side in one run."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Tasks measured by default: a short, two middling and a long exemplar set.
TASKS = ("navigate", "date_understanding", "hyperbaton", "logical_deduction_five_objects")
QUESTIONS = (
    "Question: is the sum of the digits of 2026 even? Options: (A) Yes (B) No",
    "Question: how many letters are in the word 'lantern'? Options: (A) 6 (B) 7",
    "Question: is 91 a prime number? Options: (A) Yes (B) No",
)


def _model(folder: Path) -> tuple[Any, Any]:
    """The embedded model in this process, with kept prompt states written to ``folder``."""
    from ..lm.local.serve import install_states
    from .prompt_eval import embedded_llama

    model = embedded_llama()
    return model, install_states(model, folder, "ctx4096")


def _ask(model: Any, messages: list[dict[str, str]]) -> float:
    """Seconds until the first token of the reply to ``messages``."""
    start = time.perf_counter()
    model.create_chat_completion(messages, max_tokens=1, temperature=0.0)
    return time.perf_counter() - start


def run(tasks: tuple[str, ...] = TASKS, out: Callable[[str], None] = print) -> float:
    """Print each task's first-question seconds cold and after a restart with the state files;
    returns the ratio of the medians (cold over restarted)."""
    from ..reason import program_messages
    from .bbh import task_exemplars

    prompts = {
        task: [
            program_messages(q, [(e.question, e.program) for e in task_exemplars(task)])
            for q in QUESTIONS
        ]
        for task in tasks
    }
    cold, again, restarted = [], [], []
    with tempfile.TemporaryDirectory(prefix="lmulator-states-") as folder:
        model, states = _model(Path(folder))
        for task in tasks:
            cold.append(_ask(model, prompts[task][0]))  # exemplars never read on this machine
            again.append(_ask(model, prompts[task][1]))  # read: in memory (and now in a file)
            out(f"  {task}: first question {cold[-1]:.1f} s, second {again[-1]:.1f} s")
        written = states.snapshot()["disk_saves"]
        model.close()
        model, states = _model(Path(folder))  # a fresh server: a new kernel, the next run
        for task in tasks:
            restarted.append(_ask(model, prompts[task][2]))
            out(f"  {task}: first question after a restart {restarted[-1]:.1f} s")
        read = states.snapshot()["disk_loads"]
        model.close()
    first, after = statistics.median(cold), statistics.median(restarted)
    out(f"state files: {written} written, {read} read after the restart")
    out(f"first question of a task, never read before (median): {first:.1f} s")
    out(f"second question, same server (median):              {statistics.median(again):.1f} s")
    out(f"first question after a restart, state files (median): {after:.1f} s")
    out(f"ratio: {first / after:.1f}x")
    return first / after
