"""The kernel behind its broker: confined, interruptible, and no process outlives the other."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from ..sandbox.helpers import NO_LANDLOCK
from .helpers import Kernel


def _wait_gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` has ended within ``timeout`` seconds (watched through a pidfd)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


@pytest.fixture
def kernel(tmp_path):
    kernel = Kernel(env={"LMULATOR_CACHE": "off"}, cwd=str(tmp_path))
    yield kernel
    kernel.close()


def _pid_of_cells(kernel: Kernel) -> int:
    kernel.run("%policy trusted")
    return int(kernel.run("import os\nos.getpid()").result)


def test_the_kernel_says_it_is_confined(kernel):
    out = kernel.run("%sandbox").stdout
    assert "cells are confined (Landlock ABI" in out and "seccomp" in out
    assert "writable:" in out and "programs: none may be executed" in out


def test_the_broker_is_not_the_process_that_runs_cells(kernel):
    runner = _pid_of_cells(kernel)
    assert runner != kernel.km.provisioner.pid
    assert int(kernel.run("os.getppid()").result) == kernel.km.provisioner.pid


def test_killing_the_broker_takes_the_kernel_with_it(kernel):
    runner = _pid_of_cells(kernel)
    zygote = int(
        kernel.run(
            "from lmulator.isolation import session\nsession.worker_spawner.__self__.pid"
        ).result
    )
    os.kill(kernel.km.provisioner.pid, signal.SIGKILL)
    assert _wait_gone(runner, 10) and _wait_gone(zygote, 10)


def test_the_broker_exits_with_the_kernel(kernel):
    broker = kernel.km.provisioner.pid
    kernel.run("%policy trusted")
    kernel.send("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert _wait_gone(broker, 10)


def test_an_interrupt_stops_a_cell_that_swallows_it_and_the_state_is_kept(kernel):
    kernel.run("%policy trusted")
    kernel.run("kept = 'yes'")
    code = (
        "print('looping', flush=True)\nn = 0\nwhile True:\n    try:\n        n += 1\n"
        "    except BaseException:\n        pass\n"
    )
    ex, took = kernel.interrupt_once_printed(code, "looping")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "KeyboardInterrupt"
    assert took < 2.0
    assert kernel.run("kept").result == "'yes'"


def _cpu_ticks(pid: int) -> int:
    """User and system CPU time a process has used, in clock ticks."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_c_level_loop_that_ignores_the_interrupt_ends_the_kernel(kernel):
    broker, runner = kernel.km.provisioner.pid, _pid_of_cells(kernel)
    before = _cpu_ticks(runner)
    kernel.send("sum(range(10**14))")
    # The loop has started once the cell has burnt half a second of CPU (an interrupt that
    # lands earlier, in the kernel's own code, is an ordinary interrupt).
    deadline = time.monotonic() + 30
    while _cpu_ticks(runner) - before < os.sysconf("SC_CLK_TCK") // 2:
        assert time.monotonic() < deadline, "the cell never started"
        select.select([], [], [], 0.05)
    kernel.km.interrupt_kernel()
    assert _wait_gone(broker, 20)  # the grace period is 5 s


def _no_landlock_kernelspec(tmp_path, monkeypatch):
    """A kernelspec that starts the coc kernel as on a system without Landlock."""
    spec = tmp_path / "share" / "jupyter" / "kernels" / "coc-no-landlock"
    spec.mkdir(parents=True)
    argv = [sys.executable, str(NO_LANDLOCK), "-m", "cockernel", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "coc (no Landlock)", "language": "python"}))  # fmt: skip
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))


def test_without_landlock_the_kernel_starts_and_says_once_that_cells_are_not_confined(
    tmp_path, monkeypatch
):
    _no_landlock_kernelspec(tmp_path, monkeypatch)
    kernel = Kernel(kernel_name="coc-no-landlock", cwd=str(tmp_path))
    try:
        first, second = kernel.run("1 + 1"), kernel.run("2 + 2")
        warnings = [c["text"] for c in first.of("stream") if c["name"] == "stderr"]
        assert first.result == "2" and second.result == "4"
        assert len(warnings) == 1 and "cells are NOT confined" in warnings[0]
        assert not [c for c in second.of("stream") if c["name"] == "stderr"]
        assert "NOT confined" in kernel.run("%sandbox").stdout
    finally:
        kernel.close()


def test_without_landlock_a_required_sandbox_keeps_the_kernel_from_starting(tmp_path):
    from jupyter_client.connect import write_connection_file

    connection, _ = write_connection_file(str(tmp_path / "kernel.json"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env["LMULATOR_SANDBOX"] = "required"
    proc = subprocess.run(
        [sys.executable, str(NO_LANDLOCK), "-m", "cockernel", "-f", connection],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "the sandbox is required but this system has no Landlock" in proc.stderr
