"""The coc kernel confined behind its broker against the same kernel unconfined, interleaved:
start to first reply, and the overhead benchmark's cells."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from lmulator.bench.overhead import CELLS

from .overhead import BenchKernel


def _kernel(sandbox: str) -> tuple[BenchKernel, float]:
    """A coc kernel with this sandbox setting, and the seconds from start to its first reply."""
    start = time.perf_counter()
    kernel = BenchKernel("coc", {"LMULATOR_SANDBOX": sandbox, "LMULATOR_CACHE": "off"})
    kernel.execute("1 + 1")
    return kernel, time.perf_counter() - start


def run(starts: int = 3, repeats: int = 5, out: Callable[[str], None] = print) -> float:
    """Print start-to-first-reply times and per-cell ratios; return the median per-cell ratio."""
    first: dict[str, list[float]] = {"off": [], "workspace": []}
    for _ in range(starts):
        for sandbox in first:
            kernel, seconds = _kernel(sandbox)
            first[sandbox].append(seconds)
            kernel.close()
    off, boxed = statistics.median(first["off"]), statistics.median(first["workspace"])
    out(f"kernel start to first reply: unconfined {off:.2f} s, confined {boxed:.2f} s, "
        f"extra {boxed - off:+.2f} s")  # fmt: skip
    plain, confined = _kernel("off")[0], _kernel("workspace")[0]
    try:
        times: dict[str, dict[str, list[float]]] = {n: {"off": [], "box": []} for n in CELLS}
        for _ in range(repeats):
            for name, src in CELLS.items():
                times[name]["off"].append(plain.execute(src))
                times[name]["box"].append(confined.execute(src))
    finally:
        plain.close()
        confined.close()
    ratios = []
    out(f"{'cell':<20} {'unconfined ms':>14} {'confined ms':>12} {'ratio':>7}")
    for name in CELLS:
        p = statistics.median(times[name]["off"]) * 1000
        c = statistics.median(times[name]["box"]) * 1000
        ratios.append(c / p)
        out(f"{name:<20} {p:>14.2f} {c:>12.2f} {c / p:>7.2f}")
    median = statistics.median(ratios)
    out(f"confined kernel per-cell ratio (median): {median:.2f}")
    return median
