"""Cold start and per-emulation latency of the embedded model, through the whole engine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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
