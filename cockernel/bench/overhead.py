"""Overhead of the coc kernel against the stock python3 kernel on cells with nothing to emulate."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from jupyter_client.manager import KernelManager

from lmulator.bench.overhead import CELLS


class BenchKernel:
    """A kernel started with a clean environment (plus ``extra_env``) and a blocking client."""

    def __init__(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
        env.update(extra_env or {})
        self.km = KernelManager(kernel_name=name)
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def execute(self, code: str) -> float:
        """Seconds from sending the request to its reply; raises if the cell failed."""
        start = time.perf_counter()
        reply = self.kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
        elapsed = time.perf_counter() - start
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell failed: {reply['content'].get('ename')}")
        return elapsed

    def close(self) -> None:
        """Stop the client and the kernel."""
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def run(repeats: int = 7, out: Callable[[str], None] = print) -> float:
    """Run the cells in both kernels, interleaved; print per-cell and median ratios."""
    stock, coc = BenchKernel("python3"), BenchKernel("coc")
    try:
        times: dict[str, dict[str, list[float]]] = {n: {"python3": [], "coc": []} for n in CELLS}
        for _ in range(repeats):
            for name, src in CELLS.items():
                times[name]["python3"].append(stock.execute(src))
                times[name]["coc"].append(coc.execute(src))
    finally:
        stock.close()
        coc.close()
    ratios = []
    out(f"{'cell':<20} {'python3 ms':>11} {'coc ms':>9} {'ratio':>7}")
    for name in CELLS:
        p = statistics.median(times[name]["python3"]) * 1000
        c = statistics.median(times[name]["coc"]) * 1000
        ratios.append(c / p)
        out(f"{name:<20} {p:>11.2f} {c:>9.2f} {c / p:>7.2f}")
    median = statistics.median(ratios)
    out(f"kernel overhead ratio (median): {median:.2f}")
    return median
