"""The kernel behind its broker: confined, interruptible, and no process outlives the other."""

import os
import select
import signal
import time

import pytest

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
        kernel.run("from lmulator import isolation\nisolation.worker_spawner.__self__.pid").result
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


def test_a_c_level_loop_that_ignores_the_interrupt_ends_the_kernel(kernel):
    broker = kernel.km.provisioner.pid
    msg_id = kernel.send("print('summing', flush=True)\nsum(range(10**14))")
    deadline = time.monotonic() + 20
    while True:
        msg = kernel.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    kernel.km.interrupt_kernel()
    assert _wait_gone(broker, 20)  # the grace period is 5 s
