"""Cold start and per-emulation latency of the embedded model, through the whole engine; and
Chain of Code on the embedded model with one reusable prompt prefix vs several kept states."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from ..config import Config
from ..engine.session import Session
from ..lm.local.model import ensure_server

CITIES = [
    "Paris",
    "Rome",
    "Tokyo",
    "Cairo",
    "Berlin",
    "Madrid",
    "Lima",
    "Oslo",
    "Dublin",
    "Vienna",
    "Athens",
]


def run(count: int = 10, out: Callable[[str], None] = print) -> tuple[float, float]:
    """Print the cold start (server start + first emulated value) and the median emulation."""
    config = Config(cache="off")
    session = Session(config)
    start = time.perf_counter()
    first = session.run(f"get_country({CITIES[0]!r})")
    cold = time.perf_counter() - start
    if first.error is not None:
        raise RuntimeError(f"first emulation failed: {first.error}")
    out(f"server: {ensure_server().base_url}")
    out(f"first value: {first.value!r}")
    times = []
    for city in CITIES[1 : count + 1]:
        t0 = time.perf_counter()
        result = session.run(f"get_country({city!r})")
        times.append(time.perf_counter() - t0)
        out(f"  get_country({city!r}) -> {result.value!r}  {times[-1]:.2f} s")
    median = statistics.median(times)
    out(f"cold start to first value: {cold:.1f} s")
    out(f"per emulation (median): {median:.2f} s")
    return cold, median


#: The modes compared: the prompt states the server keeps (0: llama-cpp-python's one prefix).
STATE_MODES = (("one prefix (before)", "0"), ("several states", ""))


def run_states(
    data: str, tasks: list[str], limit: int = 2, out: Callable[[str], None] = print
) -> dict[str, float]:
    """Chain of Code on the same BBH examples with each :data:`STATE_MODES` mode, each on a
    fresh server with no state on disk; print the median seconds an example and the prompt
    tokens evaluated and reused. Returns the median seconds by mode."""
    from .bbh import make_jobs

    jobs = make_jobs(data, tasks, ["coc"], 0, limit, None, None, 300.0)
    medians = {}
    for name, states in STATE_MODES:
        with (
            tempfile.TemporaryDirectory() as folder,
            ProcessPoolExecutor(
                1, mp_context=get_context("spawn"), initializer=_mode, initargs=(states, folder)
            ) as pool,
        ):
            seconds, stats = pool.submit(_run_jobs, jobs).result()
        medians[name] = statistics.median(seconds)
        out(
            f"{name}: median {medians[name]:.1f} s an example ({len(seconds)} examples, "
            f"{sum(seconds):.0f} s in all); prompt tokens evaluated {stats['evaluated_tokens']}, "
            f"reused {stats['reused_tokens']} of {stats['prompt_tokens']}; "
            f"state loads {stats['loads']}, saves {stats['saves']}; "
            f"server CPU {stats['cpu_ms'] / 1000:.0f} s"
        )
    return medians


def _mode(states: str, folder: str) -> None:
    """In the worker: the server it starts keeps ``states`` states and ``folder`` on disk."""
    os.environ["LMULATOR_PROMPT_STATES"] = states
    os.environ["LMULATOR_PROMPT_CACHE_DIR"] = folder


def _run_jobs(jobs: list) -> tuple[list[float], dict[str, int]]:
    """Each job's seconds, and the server's prompt-token counts after them all."""
    from ..lm.local.model import server_stats
    from .bbh import run_job

    seconds = [run_job(job).seconds for job in jobs]
    return seconds, server_stats() or {}
