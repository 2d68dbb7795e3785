"""Overhead of the engine against plain ``exec`` on cells that need no emulation."""

from __future__ import annotations

import builtins
import statistics
import time
from collections.abc import Callable

from ..config import Config
from ..engine.session import Session

CELLS: dict[str, str] = {
    "loops": """
total = 0
for i in range(120_000):
    if i % 3 == 0:
        total += i * i % 7
    else:
        total -= 1
n = 0
while n < 60_000:
    n += 1
""",
    "user classes": """
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
    def norm2(self):
        return self.x * self.x + self.y * self.y
    def shifted(self, dx):
        return Point(self.x + dx, self.y)
points = [Point(i, i + 1) for i in range(12_000)]
acc = 0
for p in points:
    q = p.shifted(2)
    acc += q.norm2() - p.x
    p.y += 1
""",
    "dict and list work": """
words = ("alpha beta gamma delta epsilon zeta eta theta " * 3_000).split()
counts = {}
for w in words:
    counts[w] = counts.get(w, 0) + 1
pairs = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
stack = []
for i in range(40_000):
    stack.append(i)
    if len(stack) > 10:
        stack.pop(0)
lookup = {i: str(i) for i in range(20_000)}
hits = sum(1 for i in range(40_000) if i in lookup)
""",
    "string formatting": """
rows = []
for i in range(15_000):
    rows.append(f"{i:05d}|{i * 1.5:.2f}|{'x' * (i % 5)}")
text = "\\n".join(rows)
labels = ["{}-{}".format(i, i % 7) for i in range(10_000)]
upper = [s.upper().replace("X", "y") for s in rows[:5_000]]
""",
    "comprehensions": """
squares = [i * i for i in range(40_000)]
evens = {i for i in squares if i % 2 == 0}
table = {i: [j for j in range(i % 6)] for i in range(10_000)}
total = sum(x % 11 for x in squares)
pairs = [(a, b) for a in range(120) for b in range(120) if (a + b) % 3 == 0]
""",
    "numeric kernel": """
def matmul(a, b):
    n, m, p = len(a), len(b), len(b[0])
    out = [[0.0] * p for _ in range(n)]
    for i in range(n):
        row = a[i]
        for k in range(m):
            aik = row[k]
            bk = b[k]
            orow = out[i]
            for j in range(p):
                orow[j] += aik * bk[j]
    return out
size = 36
a = [[(i * j) % 7 + 1.0 for j in range(size)] for i in range(size)]
b = [[(i + j) % 5 + 1.0 for j in range(size)] for i in range(size)]
c = matmul(a, b)
def sieve(n):
    flags = [True] * (n + 1)
    flags[0] = flags[1] = False
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            for j in range(i * i, n + 1, i):
                flags[j] = False
    return [i for i, f in enumerate(flags) if f]
primes = sieve(60_000)
""",
}


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(repeats: int = 7, out: Callable[[str], None] = print) -> float:
    """Time every cell under plain exec and under the engine, interleaved; print ratios."""
    config = Config(mode="interweave")
    plain_times: dict[str, list[float]] = {k: [] for k in CELLS}
    engine_times: dict[str, list[float]] = {k: [] for k in CELLS}
    for _ in range(repeats):
        for name, src in CELLS.items():
            ns = {"__builtins__": builtins, "__name__": "__main__"}
            plain_times[name].append(_time(lambda: exec(compile(src, "<plain>", "exec"), ns)))  # noqa: B023, S102
            session = Session(config)
            result = None

            def run_engine() -> None:
                nonlocal result
                result = session.run(src)  # noqa: B023

            engine_times[name].append(_time(run_engine))
            if result is None or result.error is not None or result.emulated:
                raise RuntimeError(f"cell {name!r} did not run natively: {result and result.error}")
    ratios = []
    out(f"{'cell':<20} {'plain ms':>10} {'engine ms':>10} {'ratio':>7}")
    for name in CELLS:
        p = statistics.median(plain_times[name]) * 1000
        e = statistics.median(engine_times[name]) * 1000
        ratios.append(e / p)
        out(f"{name:<20} {p:>10.2f} {e:>10.2f} {e / p:>7.2f}")
    median = statistics.median(ratios)
    out(f"overhead ratio (median): {median:.2f}")
    return median
