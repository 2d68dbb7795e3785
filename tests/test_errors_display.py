"""A program's errors show its own frames, never the engine's."""

from lmulator import Config, Session
from lmulator.engine.errors_display import format_user_error, user_traceback_lines


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
