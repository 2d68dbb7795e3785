"""Prompt evaluation on the embedded model: every prompt row's scores vs each batch's last row
(:mod:`lmulator.lm.local.last_row`), on Chain of Code's own program prompts, side by side."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

#: The program prompts measured by default: a short, a middling and a long exemplar set.
TASKS = ("navigate", "date_understanding", "logical_deduction_five_objects")
QUESTION = "Question: is the sum of the digits of 2026 even? Options: (A) Yes (B) No"


#: Threads the embedded server uses, and so these benches.
EMBEDDED_THREADS = max(1, min(4, os.cpu_count() or 1))


def embedded_llama() -> Any:
    """The embedded model loaded in this process as its server loads it."""
    from llama_cpp import Llama

    from ..lm.local.model import model_path

    threads = EMBEDDED_THREADS
    return Llama(
        str(model_path()),
        n_ctx=4096,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=True,
        verbose=False,
    )


def _ask(model: Any, messages: list[dict[str, str]]) -> tuple[float, int]:
    """Seconds to evaluate ``messages`` from scratch and give one token; the prompt's tokens."""
    model.reset()
    start = time.perf_counter()
    reply = model.create_chat_completion(messages, max_tokens=1, temperature=0.0, logprobs=True)
    return time.perf_counter() - start, int(reply["usage"]["prompt_tokens"])


def run(
    tasks: tuple[str, ...] = TASKS, rounds: int = 2, out: Callable[[str], None] = print
) -> float:
    """Print prompt tokens a second both ways for each task's program prompt; returns the
    ratio of the medians (last row over all rows)."""
    from ..lm.local.last_row import install
    from ..lm.local.model import model_path
    from ..reason import program_messages
    from .bbh import task_exemplars

    model, threads = embedded_llama(), EMBEDDED_THREADS
    evaluator = install(model)
    if evaluator is None:
        raise RuntimeError("this llama-cpp-python is not the shape last-row evaluation expects")
    out(f"model: {model_path().name}, {threads} threads, {rounds} rounds")
    speeds: dict[bool, list[float]] = {True: [], False: []}
    for task in tasks:
        examples = [(e.question, e.program) for e in task_exemplars(task)]
        messages = program_messages(QUESTION, examples)
        for r in range(rounds):
            for full in (r % 2 == 0, r % 2 != 0):  # alternate which goes first
                evaluator.full_rows = full
                seconds, tokens = _ask(model, messages)
                speeds[full].append(tokens / seconds)
                label = "all rows" if full else "last row"
                out(
                    f"  {task} ({tokens} tokens) {label}: {seconds:.1f} s, {tokens / seconds:.1f}/s"
                )
    evaluator.full_rows = False
    every, last = statistics.median(speeds[True]), statistics.median(speeds[False])
    out(f"prompt tokens a second, all rows (before): {every:.1f}")
    out(f"prompt tokens a second, last row (now):    {last:.1f}")
    out(f"ratio: {last / every:.2f}x")
    return last / every
