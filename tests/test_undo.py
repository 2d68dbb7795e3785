"""Undo: the last cell that emulated something, as a whole; older cells only when asked; a name
bound again since its cell ended keeps that binding."""

import pytest

from lmulator import Config, Session
from lmulator.testing import FakeChatClient


def session(**values: object) -> Session:
    return Session(Config(cache="off"), client=FakeChatClient(values=values))


def test_undo_puts_back_every_emulated_step_of_the_last_cell_that_emulated_something():
    s = session(**{"guess()": 7, "other()": 8})
    s.run("n, m = 1, 2", name="<c1>")
    s.run("n = guess()\nx = 0\nm = other()", name="<c2>")
    s.run("v = 6", name="<c3>")  # plain: the undo goes past it, and leaves it alone
    (done,) = s.undo_cells()
    assert (done.cell, done.lines, done.restored, done.kept) == ("<c2>", (1, 3), ("m", "n"), ())
    assert [s.namespace[k] for k in ("n", "m", "x", "v")] == [1, 2, 0, 6]
    assert s.lm_names == {}
    assert s.undo() == []  # nothing left


def test_older_cells_only_when_asked_and_never_past_what_there_is():
    s = session(**{"guess()": 7, "other()": 8})
    s.run("a = guess()", name="<c1>")
    s.run("b = other()", name="<c2>")
    assert s.undo() == ["b"] and s.namespace["a"] == 7
    s.run("b = other()", name="<c3>")
    with pytest.raises(ValueError, match="only 2 cells"):
        s.undo_cells(3)
    assert s.namespace["b"] == 8 and s.namespace["a"] == 7  # nothing was undone
    assert [d.cell for d in s.undo_cells(2)] == ["<c3>", "<c1>"]
    assert "a" not in s.namespace and "b" not in s.namespace


def test_a_name_bound_again_since_keeps_its_binding():
    s = session(**{"guess()": 7, "other()": 8})
    s.run("a, b = 1, 2", name="<c1>")
    s.run("a = guess()\nb = other()", name="<c2>")
    s.run("a = 100", name="<c3>")
    (done,) = s.undo_cells()
    assert done.restored == ("b",) and done.kept == ("a",)
    assert (s.namespace["a"], s.namespace["b"]) == (100, 2)


def test_a_name_the_cell_itself_rebinds_after_its_emulation_is_put_back():
    s = session(**{"guess()": [7]})
    s.run("ys = ['old']", name="<c1>")
    s.run("ys = guess()\nys = ys + [8]", name="<c2>")
    assert s.undo() == ["ys"] and s.namespace["ys"] == ["old"]


def test_a_value_that_came_from_the_lm_before_keeps_its_origin_when_put_back():
    s = session(**{"guess()": 7, "other()": 8})
    s.run("a = guess()", name="<c1>")
    s.run("a = other()", name="<c2>")
    s.undo()
    assert s.namespace["a"] == 7 and s.lm_names["a"] == "value at line 1"
