"""``python -m lmulator.bench sandbox``: what the sandbox and its broker cost, side by side.

Three figures, each as a ratio to the unconfined path, measured interleaved in one run:

* start to first result: ``python -m lmulator run`` on a one-line program, ``--sandbox off``
  against the default (broker, scrubbed runner, Landlock, seccomp);
* per cell: the overhead benchmark's six cells run by a Session in a child process, plain
  against confined (the filters cost only on system calls);
* LM round trip: one emulation request answered by an OpenAI-compatible server (the project's
  scripted one on 127.0.0.1), asked directly against asked through the broker.

The kernel's start to first reply is measured by ``python -m cockernel.bench sandbox``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import Config
from ..lm.client import OpenAIChatClient
from ..sandbox import SandboxSpec
from ..sandbox.broker import Broker
from ..testing import ScriptedServer
from .overhead import CELLS

MESSAGES = [{"role": "user", "content": "Emulate: f(1)"}]
SCHEMA = {"type": "object", "properties": {"value": {}}, "required": ["value"]}

CELL_TIMER = """
import json, sys, time
from lmulator.bench.overhead import CELLS
from lmulator.config import Config
from lmulator.engine.session import Session
if sys.argv[1] == "confined":
    from lmulator.sandbox import SandboxSpec, confine
    assert confine(SandboxSpec(workspace=sys.argv[2])).confined
times = {}
for name, src in CELLS.items():
    runs = []
    for _ in range(int(sys.argv[3])):
        session = Session(Config(mode="interweave"))
        start = time.perf_counter()
        result = session.run(src)
        runs.append(time.perf_counter() - start)
        assert result.error is None, result.error
    times[name] = sorted(runs)[len(runs) // 2]
print(json.dumps(times))
"""

LM_TIMER = """
import json, sys, time
from lmulator.config import Config
from lmulator.lm.factory import make_client
from lmulator.sandbox.runner import enter_sandbox
enter_sandbox()
client = make_client(Config(base_url=sys.argv[1], model="m", cache="off"))
messages = [{"role": "user", "content": "Emulate: f(1)"}]
schema = {"type": "object", "properties": {"value": {}}, "required": ["value"]}
client.complete(messages, schema, "value_reply")
runs = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    client.complete(messages, schema, "value_reply")
    runs.append(time.perf_counter() - start)
print(json.dumps(sorted(runs)[len(runs) // 2]))
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}


def _start_to_result(program: Path, sandbox: str) -> float:
    env = {**_env(), "LMULATOR_CACHE": "off"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lmulator", "run", str(program), "--mode", "python",
                    "--sandbox", sandbox], check=True, capture_output=True, env=env)  # fmt: skip
    return time.perf_counter() - start


def _cell_times(kind: str, workspace: str, repeats: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CELL_TIMER, kind, workspace, str(repeats)],
                         check=True, capture_output=True, text=True, env=_env())  # fmt: skip
    return json.loads(out.stdout)


def _direct_round_trip(base_url: str, count: int) -> float:
    client = OpenAIChatClient(base_url, None, "m")
    client.complete(MESSAGES, SCHEMA, "value_reply")
    runs = []
    for _ in range(count):
        start = time.perf_counter()
        client.complete(MESSAGES, SCHEMA, "value_reply")
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def run(rounds: int = 3, repeats: int = 5, calls: int = 30) -> None:
    """Print the three figures with their ratios."""
    with tempfile.TemporaryDirectory() as workspace:
        program = Path(workspace) / "one.py"
        program.write_text("x = 1\n")
        starts: dict[str, list[float]] = {"off": [], "workspace": []}
        cells: dict[str, dict[str, list[float]]] = {"plain": {}, "confined": {}}
        for _ in range(rounds):  # interleaved, so drift hits both sides alike
            for sandbox in ("off", "workspace"):
                starts[sandbox].append(_start_to_result(program, sandbox))
            for kind in ("plain", "confined"):
                for name, t in _cell_times(kind, workspace, repeats).items():
                    cells[kind].setdefault(name, []).append(t)
        off, boxed = statistics.median(starts["off"]), statistics.median(starts["workspace"])
        print(f"start to first result: unconfined {off:.2f} s, confined {boxed:.2f} s, "
              f"extra {boxed - off:+.2f} s")  # fmt: skip
        print(f"{'cell':<20} {'plain ms':>10} {'confined ms':>12} {'ratio':>7}")
        ratios = []
        for name in CELLS:
            p = statistics.median(cells["plain"][name]) * 1000
            c = statistics.median(cells["confined"][name]) * 1000
            ratios.append(c / p)
            print(f"{name:<20} {p:>10.2f} {c:>12.2f} {c / p:>7.2f}")
        print(f"per-cell ratio, confined vs plain (median): {statistics.median(ratios):.2f}")
        server = ScriptedServer({"rules": [{"match": [], "reply": {"value": 1}}]})
        try:
            direct, brokered = [], []
            for _ in range(rounds):
                direct.append(_direct_round_trip(server.base_url, calls))
                brokered.append(_brokered_ms(server.base_url, calls, workspace))
        finally:
            server.close()
        d, b = statistics.median(direct) * 1000, statistics.median(brokered) * 1000
        print(f"LM round trip: direct {d:.2f} ms, through the broker {b:.2f} ms, ratio {b / d:.2f}")


def _brokered_ms(base_url: str, calls: int, workspace: str) -> float:
    broker = Broker(Config(base_url=base_url, model="m", cache="off"),
                    SandboxSpec(workspace=workspace))  # fmt: skip
    with tempfile.TemporaryFile("w+") as out:
        broker.start([sys.executable, "-c", LM_TIMER, base_url, str(calls)], cwd=workspace,
                     stdout=out)  # fmt: skip
        if broker.wait() != 0:
            raise RuntimeError("the brokered runner failed")
        out.seek(0)
        return float(json.loads(out.read().strip().splitlines()[-1]))
