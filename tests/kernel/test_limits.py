"""Limits in a real kernel: interrupting endless loops, a time limit, a memory limit."""

import pytest

from .helpers import Kernel, package_frames, shows_only_the_cells_frames


@pytest.fixture(scope="module")
def kernel():
    kernel = Kernel(env={"LMULATOR_CACHE": "off", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    yield kernel
    kernel.close()


@pytest.mark.parametrize("mode", ["python", "interweave"])
def test_an_endless_loop_stops_on_interrupt_within_two_seconds(kernel, mode):
    kernel.run(f"%mode {mode}")
    kernel.run("kept = 'yes'")
    ex, elapsed = kernel.interrupt_once_printed(
        "n = 0\nprint('looping')\nwhile True:\n    n += 1", "looping"
    )
    assert elapsed < 2.0
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "KeyboardInterrupt"
    assert shows_only_the_cells_frames(ex), package_frames(ex)
    assert kernel.run("kept").result == "'yes'"
    assert int(kernel.run("n").result) > 0


def test_the_time_limit_ends_a_cell_and_keeps_the_state(kernel):
    kernel.run("%mode interweave")
    assert "1 s" in kernel.run("%limits time=1").stdout
    try:
        kernel.run("kept = 1")
        ex = kernel.run("while True:\n    kept += 0")
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "CellTimeout"
        assert shows_only_the_cells_frames(ex), package_frames(ex)
        ex = kernel.run("def spin():\n    while True:\n        pass\nspin()")
        assert ex.of("error")[0]["ename"] == "CellTimeout"
        assert shows_only_the_cells_frames(ex), package_frames(ex)
        assert kernel.run("kept + 1").result == "2"
    finally:
        kernel.run("%limits time=0")


def test_a_memory_bomb_ends_in_memory_error_and_the_kernel_lives(kernel):
    kernel.run("%mode interweave")
    assert "300 MB" in kernel.run("%limits memory=300").stdout
    try:
        kernel.run("kept = 1")
        ex = kernel.run("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))")
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "MemoryError"
        ex = kernel.run("big = 'x' * 10**10")
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "MemoryError"
        assert kernel.run("del chunks\nkept + 1").result == "2"
        assert kernel.run("len(bytearray(10**8))").result == "100000000"
    finally:
        kernel.run("%limits memory=0")
    assert kernel.kc.is_alive()


@pytest.mark.parametrize("line", ["time=soon", "memory=-5", "cpu=3"])
def test_bad_limits_get_a_clear_message_and_change_nothing(kernel, line):
    before = kernel.run("%limits").stdout
    ex = kernel.run(f"%limits {line}")
    assert ex.status == "error" and ex.reply["content"]["evalue"].startswith("%limits:")
    assert kernel.run("%limits").stdout == before
