"""``python -m lmulator.bench isolation``: what a cell costs in a child process, side by side."""

from __future__ import annotations

import statistics
import time

from ..config import Config
from ..engine.session import Session
from ..isolation.session import ChildLimits, IsolatedSession

CELLS = {
    "tiny statement": "x = 1",
    "loop of 10k": "t = 0\nfor i in range(10_000):\n    t += i",
    "build 1 MB list": "data = list(range(130_000))",
}


def _per_cell_ms(session: Session | IsolatedSession, source: str, count: int) -> float:
    session.run(source)  # warm up
    start = time.perf_counter()
    for _ in range(count):
        result = session.run(source)
        if result.error is not None:
            raise RuntimeError(f"benchmark cell failed: {result.error}")
    return (time.perf_counter() - start) / count * 1000


def run(count: int = 50, repeats: int = 3) -> None:
    """Print per-cell times in-process, isolated with snapshots, and isolated without."""
    config = Config(mode="python", cache="off")
    start = time.perf_counter()
    with IsolatedSession(config) as forked:
        startup = time.perf_counter() - start
        with IsolatedSession(config, limits=ChildLimits(snapshots=False)) as plain_child:
            local = Session(config)
            print(f"child process start: {startup * 1000:.0f} ms")
            header = f"{'cell':<18}{'in-process ms':>15}{'child ms':>10}{'+snapshot ms':>14}"
            print(header + f"{'ratio':>8}")
            ratios = []
            for label, source in CELLS.items():
                times: dict[str, list[float]] = {"local": [], "child": [], "snap": []}
                for _ in range(repeats):  # interleaved, so drift hits all three alike
                    times["local"].append(_per_cell_ms(local, source, count))
                    times["child"].append(_per_cell_ms(plain_child, source, count))
                    times["snap"].append(_per_cell_ms(forked, source, count))
                med = {k: statistics.median(v) for k, v in times.items()}
                ratio = med["snap"] / med["local"]
                ratios.append(ratio)
                print(
                    f"{label:<18}{med['local']:>15.2f}{med['child']:>10.2f}{med['snap']:>14.2f}"
                    f"{ratio:>8.1f}"
                )
    print(f"isolated (with snapshots) vs in-process, median ratio: {statistics.median(ratios):.1f}")
