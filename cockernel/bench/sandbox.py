"""The coc kernel confined behind its broker against the same kernel unconfined, interleaved:
start to first reply, and the overhead benchmark's cells."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from jupyter_client.manager import KernelManager

from lmulator.bench.overhead import CELLS


class _Kernel:
    def __init__(self, sandbox: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
        env.update(LMULATOR_SANDBOX=sandbox, LMULATOR_CACHE="off")
        start = time.perf_counter()
        self.km = KernelManager(kernel_name="coc")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.execute("1 + 1")
        self.first_reply = time.perf_counter() - start

    def execute(self, code: str) -> float:
        """Seconds from sending the request to its reply; raises if the cell failed."""
        start = time.perf_counter()
        reply = self.kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
        elapsed = time.perf_counter() - start
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell failed: {reply['content'].get('ename')}")
        return elapsed

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def run(starts: int = 3, repeats: int = 5, out: Callable[[str], None] = print) -> float:
    """Print start-to-first-reply times and per-cell ratios; return the median per-cell ratio."""
    first: dict[str, list[float]] = {"off": [], "workspace": []}
    for _ in range(starts):
        for sandbox in first:
            kernel = _Kernel(sandbox)
            first[sandbox].append(kernel.first_reply)
            kernel.close()
    off, boxed = statistics.median(first["off"]), statistics.median(first["workspace"])
    out(f"kernel start to first reply: unconfined {off:.2f} s, confined {boxed:.2f} s, "
        f"extra {boxed - off:+.2f} s")  # fmt: skip
    plain, confined = _Kernel("off"), _Kernel("workspace")
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
