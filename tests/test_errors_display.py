"""A program's errors show its own frames, never the engine's."""

import os
import traceback

from lmulator import Config, Session
from lmulator.engine.errors_display import (
    format_user_error,
    strip_engine_frames,
    user_traceback_lines,
)
from lmulator.errors import CellTimeout


def test_a_failing_cell_shows_its_own_lines_and_no_engine_frame():
    session = Session(Config(mode="python", cache="off"))
    result = session.run("def half(n):\n    return n / 0\n\nhalf(4)", name="<cell-7>")
    assert isinstance(result.error, ZeroDivisionError)
    text = format_user_error(result.error)
    assert text.startswith("Traceback") and text.rstrip().endswith(
        "ZeroDivisionError: division by zero"
    )
    assert '"<cell-7>", line 4' in text and '"<cell-7>", line 2, in half' in text
    assert "lmulator" not in text and "exec(" not in text


def test_an_exception_without_a_traceback_is_one_line():
    assert user_traceback_lines(ValueError("bad")) == ["ValueError: bad\n"]
    assert format_user_error(ValueError("bad")) == "ValueError: bad\n"


def _raise_in(filename: str, source: str, namespace: dict) -> None:
    exec(compile(source, filename, "exec"), namespace)


def test_frames_of_a_hosts_own_files_go_too_and_so_do_those_of_the_chain(tmp_path):
    host = str(tmp_path / "host")
    try:
        try:
            _raise_in("<cell-1>", "def f():\n    return 1 / 0\nf()", {})
        except ZeroDivisionError:
            _raise_in(host + "/shell.py", "raise KeyboardInterrupt", {})
    except KeyboardInterrupt as exc:
        err = exc
    strip_engine_frames(err, host, os.path.dirname(__file__))  # this file plays the host too
    # The interrupt came while the host handled the cell's error: it stopped at the cell's line.
    assert err.__suppress_context__
    text = "".join(traceback.format_exception(err))
    assert '"<cell-1>", line 3' in text and '"<cell-1>", line 2, in f' in text
    assert "shell.py" not in text and "test_errors_display" not in text
    assert text.rstrip().endswith("KeyboardInterrupt")
    assert '"<cell-1>", line 2, in f' in format_user_error(err)


def test_an_error_of_our_own_is_named_as_the_kernel_names_it():
    assert format_user_error(CellTimeout("the cell ran longer than its 1 s limit")) == (
        "CellTimeout: the cell ran longer than its 1 s limit\n"
    )
