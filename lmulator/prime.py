"""Warm the embedded model of a machine once: evaluate the prompt prefixes that every question
will begin with (each shipped task's exemplars, and the emulator's prompt), so that their states
are written as files and a fresh server (a new kernel, the next run) does not pay for them.

A task's Chain of Code prompt is its system prompt and exemplars, then the question. Two probe
questions that differ from their first character are asked for one token each: the prefix they
share is exactly what every question of the task shares, and the embedded server writes the
state of a prefix that recurs (:mod:`lmulator.lm.local.prompt_state`). Priming again costs a
second or two a task: the server reads the prefix from its file and evaluates the probe alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .exemplars import example_tasks, load_exemplars
from .lm.client import ChatClient
from .reason import program_messages

#: Two questions that share nothing after the prompt's prefix.
PROBES = ("A", "B")


@dataclass(frozen=True)
class Primed:
    """One task's prefix made ready: the prompt tokens the server evaluated for it and the
    state files it wrote (both 0 where the server does not say), and the seconds it took."""

    task: str
    evaluated: int
    written: int
    seconds: float


def task_messages(task: str, probe: str) -> list[dict[str, str]]:
    """The Chain of Code prompt of a shipped task with ``probe`` as its question."""
    exemplars = load_exemplars(task)
    return program_messages(probe, [(e.question, e.program) for e in exemplars])


def prime_tasks(
    client: ChatClient,
    tasks: Sequence[str] | None = None,
    stats: Callable[[], dict[str, int] | None] = lambda: None,
    on_task: Callable[[Primed], None] | None = None,
) -> list[Primed]:
    """Ask ``client`` the probe questions of each task (default: every shipped one) so that
    their shared prefix is evaluated and kept; ``stats`` reads the server's counters."""
    known = example_tasks()
    unknown = [t for t in tasks or () if t not in known]
    if unknown:
        raise ValueError(
            f"no shipped exemplars for {', '.join(unknown)}; known: {', '.join(known)}"
        )
    done = []
    for task in tasks or known:
        before, start = stats() or {}, time.perf_counter()
        for probe in PROBES:
            client.complete_text(task_messages(task, probe), max_tokens=1)
        after = stats() or {}
        primed = Primed(
            task,
            after.get("evaluated_tokens", 0) - before.get("evaluated_tokens", 0),
            after.get("disk_saves", 0) - before.get("disk_saves", 0),
            time.perf_counter() - start,
        )
        done.append(primed)
        if on_task is not None:
            on_task(primed)
    return done
