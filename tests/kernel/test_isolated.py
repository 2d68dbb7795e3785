"""%%isolated in a real kernel: a child process with its own namespace, killed and restored."""

import pytest

from .helpers import Kernel


@pytest.fixture(scope="module")
def kernel():
    kernel = Kernel(env={"LMULATOR_CACHE": "off", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    kernel.run("%mode python")
    yield kernel
    kernel.close()


def test_isolated_cells_keep_their_own_namespace(kernel):
    ex = kernel.run("%%isolated\nx = 41\nprint('in the child')\nx + 1")
    assert ex.status == "ok" and ex.result == "42" and "in the child" in ex.stdout
    assert kernel.run("%%isolated\nx").result == "41"
    assert kernel.run("x").status == "error"  # not in the kernel's namespace


def test_a_c_level_loop_is_killed_and_the_isolated_state_remains(kernel):
    kernel.run("%%isolated\nkept = 'yes'")
    kernel.run("%limits time=0.5")  # follows into the running child
    try:
        ex = kernel.run("%%isolated\nkept = 'no'\ntotal = sum(range(10**13))")
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "CellTimeout"
        assert "killed" in ex.of("error")[0]["evalue"]
        assert kernel.run("%%isolated\nkept").result == "'yes'"
    finally:
        kernel.run("%limits time=0")
    assert kernel.run("1 + 1").result == "2"


def test_errors_in_the_child_are_the_cells_errors(kernel):
    ex = kernel.run("%%isolated\nimport os")
    assert ex.status == "error"
    error = ex.of("error")[0]
    assert error["ename"] == "ImportRefused" and "not allowed" in error["evalue"]
    ex = kernel.run("%%isolated\nx = 1\n1 / x / 0")
    error = ex.of("error")[0]
    assert error["ename"] == "ZeroDivisionError"
    shown = "\n".join(error["traceback"])
    assert "line 2" in shown and "1 / x / 0" in shown and "magics.py" not in shown


def test_bad_options_get_a_clear_message(kernel):
    ex = kernel.run("%%isolated --fast\n1")
    assert ex.status == "error" and ex.reply["content"]["evalue"].startswith("%%isolated:")


def test_an_interrupt_stops_a_c_level_loop_in_the_child_and_keeps_its_state(kernel):
    kernel.run("%%isolated restart\nkept = 7")
    ex, elapsed = kernel.interrupt_once_printed(
        "%%isolated\nprint('looping')\ntotal = sum(range(10**13))", "looping"
    )
    assert elapsed < 2.0 + 1.5  # the grace period, the kill, the hand-over
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "KeyboardInterrupt"
    assert kernel.run("%%isolated\nkept").result == "7"


def test_mode_changes_follow_into_the_child(kernel):
    kernel.run("%mode interweave")  # the LM is unreachable here: emulation fails clearly
    try:
        ex = kernel.run("%%isolated\nv = undefined_name_here")
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "EmulationError"
        kernel.run("%mode python")
        ex = kernel.run("%%isolated\nv = undefined_name_here")
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "NameError"
    finally:
        kernel.run("%mode python")
