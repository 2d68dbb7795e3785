"""A box's edges: what the broker does so that no file a box wrote runs outside it.

:class:`BoxEdges` holds it together for :class:`lmulator.sandbox.broker.Broker`. At the start of
a box: take the box-writable directories off the broker's import path, refuse to go on if this
process already imported a file the box could write (:mod:`.importpath`), start the janitor, and give the runner a path
without those directories (and the code directories to make read-only, :mod:`.readonly`). At its
end: sweep what the box created or changed. If the broker is killed before that (Jupyter kills a
kernel with SIGKILL), its *janitor*, a small process of its own session started with the box,
sees its pipe close, kills what is left of the box's session and sweeps in its place.

Entries already in those directories when a box starts are left alone, whoever wrote them: they
may be the user's own (a ``code.py`` or ``test.py`` beside a notebook), no process of ours imports
them (the broker's import path holds no box-writable directory; inside the box the workspace
comes after the installation), and only what a box creates or changes is set aside.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from .importpath import (
    CWD_ENV,
    box_writable,
    clean_sys_path,
    code_dirs,
    inside,
    real,
    refuse_loaded,
    split_pythonpath,
)
from .leftovers import directories_to_sweep, loaded_sources, snapshot, sweep_directory
from .spec import SandboxSpec

#: The janitor: read the broker's lines until "done" (a clean end) or end of file (it died).
JANITOR = (
    "import os, sys\n"
    "fd, data = int(sys.argv[1]), b''\n"
    "while not data.endswith(b'done\\n'):\n"
    "    chunk = os.read(fd, 65536)\n"
    "    if not chunk:\n"
    "        from lmulator.sandbox.edges import janitor_main\n"
    "        sys.exit(janitor_main(data.decode()))\n"
    "    data += chunk\n"
)
MAX_LINES = 50
JANITOR_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "PYTHONHASHSEED")


@dataclass(frozen=True)
class Plan:
    """What a sweep needs to know about a box (sent to the janitor as one JSON line)."""

    writable: tuple[str, ...]
    protected: tuple[str, ...]
    cwd: str
    tmpdir: str | None
    before: dict[str, tuple[int, int]]  # the entries there at the start (see leftovers.snapshot)
    sources: tuple[str, ...] = ()  # the broker's code when the box started (see imported_names)

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """The plan :meth:`to_json` wrote."""
        data = json.loads(text)
        before = {k: (int(v[0]), int(v[1])) for k, v in data["before"].items()}
        return cls(tuple(data["writable"]), tuple(data["protected"]), data["cwd"], data["tmpdir"],
                   before, tuple(data["sources"]))  # fmt: skip


def installation_path(plan: Plan) -> list[str]:
    """This process's ``sys.path`` less anything the box could have written."""
    return [
        p for p in sys.path if not inside(real(p), plan.writable) or inside(real(p), plan.protected)
    ]


def sweep(plan: Plan, *, start: bool, keep: Sequence[str] = ()) -> list[str]:
    """Sweep a box's directories: at its start the top of each, every shadowing entry (less
    ``keep``); at its end one level deeper too, what it created or changed, names the code
    outside the box imports included."""
    path = installation_path(plan)
    sources = None if start else sorted({*plan.sources, *loaded_sources()})
    skip = (plan.tmpdir,) if plan.tmpdir else ()
    lines: list[str] = []
    for directory in directories_to_sweep(plan.writable, plan.protected, plan.cwd,
                                          subdirs=not start, skip=skip, notes=lines):  # fmt: skip
        lines += sweep_directory(directory, path, before=None if start else plan.before,
                                 keep=[real(k) for k in keep], sources=sources,
                                 protected=plan.protected)  # fmt: skip
    return lines


def report(lines: Sequence[str]) -> None:
    """Say on stderr, one line each, what a sweep did (the first :data:`MAX_LINES`)."""
    for line in lines[:MAX_LINES]:
        print(f"lmulator: {line}", file=sys.stderr)
    if len(lines) > MAX_LINES:
        print(f"lmulator: ... and {len(lines) - MAX_LINES} more set aside or removed (*.boxed)",
              file=sys.stderr)  # fmt: skip
    sys.stderr.flush()


class BoxEdges:
    """The broker's side of a box's edges, from its start to its end."""

    def __init__(self, plan: Plan, janitor: Janitor | None) -> None:
        self.plan = plan
        self.janitor = janitor

    @classmethod
    def open(cls, spec: SandboxSpec, cwd: str) -> BoxEdges:
        """Prepare this process for a box with ``spec`` (see the module's docstring); raises
        SandboxError if it already runs code the box could have written."""
        writable = box_writable(spec)
        protected = code_dirs(writable)
        clean_sys_path(writable, protected)
        plan = Plan(writable, protected, real(cwd), spec.tmpdir, {}, tuple(loaded_sources()))
        skip = (spec.tmpdir,) if spec.tmpdir else ()
        dirs = directories_to_sweep(writable, protected, plan.cwd, subdirs=True, skip=skip)
        plan = replace(plan, before=snapshot(dirs))
        refuse_loaded(writable, protected)
        return cls(plan, Janitor.start(plan))

    def runner_environment(self, env: Mapping[str, str], workspace: str | None) -> dict[str, str]:
        """``env`` with ``PYTHONPATH`` split around the runner's confinement (see
        :func:`.importpath.split_pythonpath`) and the code directories it makes read-only."""
        split = split_pythonpath(env, self.plan.cwd, workspace, self.plan.writable,
                                 self.plan.protected)  # fmt: skip
        out = dict(env)
        out.pop("PYTHONPATH", None)
        if split.pythonpath is not None:
            out["PYTHONPATH"] = split.pythonpath
        out.update(split.environment(self.plan.protected))
        out[CWD_ENV] = self.plan.cwd
        return out

    def watch(self, runner_pid: int) -> None:
        """Tell the janitor which process leads the box's session."""
        if self.janitor is not None:
            self.janitor.send(f"runner {runner_pid}\n")

    def close(self) -> None:
        """Sweep what the box created or changed (its processes must be gone); release the
        janitor."""
        report(sweep(self.plan, start=False))
        if self.janitor is not None:
            self.janitor.release()
            self.janitor = None


class Janitor:
    """A process outside the box that sweeps in the broker's place if the broker dies."""

    def __init__(self, proc: subprocess.Popen[bytes], fd: int) -> None:
        self.proc = proc
        self.fd = fd

    @classmethod
    def start(cls, plan: Plan) -> Janitor | None:
        """Start it (None if it cannot be: the broker then sweeps only when it ends cleanly)."""
        env = {k: v for k, v in os.environ.items() if k in JANITOR_ENV or k.startswith("LC_")}
        pythonpath = split_pythonpath(os.environ, plan.cwd, None, plan.writable, plan.protected)
        if pythonpath.pythonpath:
            env["PYTHONPATH"] = pythonpath.pythonpath
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-c", JANITOR, str(read_fd), plan.cwd], pass_fds=(read_fd,),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd="/", env=env,
                start_new_session=True,  # not killed with the broker's process group
            )  # fmt: skip
        except OSError:
            os.close(write_fd)
            return None
        finally:
            os.close(read_fd)
        janitor = cls(proc, write_fd)
        janitor.send(plan.to_json() + "\n")
        return janitor

    def send(self, line: str) -> None:
        """Write one line to the janitor."""
        try:
            os.write(self.fd, line.encode())
        except OSError:
            pass

    def release(self) -> None:
        """The box ended cleanly and was swept: let the janitor go."""
        self.send("done\n")
        os.close(self.fd)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def janitor_main(text: str) -> int:
    """The janitor, once the broker is gone: end the box's processes, sweep, remove its
    temporary directory."""
    try:
        return _clean_up(text.splitlines())
    except Exception as exc:  # one line, never a traceback in the kernel's log
        print(f"lmulator: the box's janitor failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _clean_up(lines: list[str]) -> int:
    if not lines:
        return 0  # the broker died before it said anything: no box was started
    plan = Plan.from_json(lines[0])
    runners = [int(line.split()[1]) for line in lines[1:] if line.startswith("runner ")]
    if runners:
        from .reap import end_session

        end_session(runners[-1])
    report(sweep(plan, start=False))
    if plan.tmpdir:
        shutil.rmtree(plan.tmpdir, ignore_errors=True)
    return 0
