"""Cells that swallow interrupts and time limits still stop, and keep the state before them."""

import ast
import os
import signal
import threading

import pytest

from lmulator.config import Config
from lmulator.engine.instrument.stops import STOP_NAME, add_stop_checks
from lmulator.engine.session import Session
from lmulator.errors import CellTimeout

SWALLOW_LOOP = (
    "n = 0\nwhile True:\n    try:\n        n += 1\n    except BaseException:\n        pass\n"
)
SWALLOW_WITH = (
    "class Swallow:\n    def __enter__(self):\n        return self\n"
    "    def __exit__(self, *exc):\n        return True\n"
    "while True:\n    with Swallow():\n        x = sum(range(100))\n"
)
SWALLOW_FINALLY = (
    "count = 0\nwhile True:\n    try:\n        while True:\n            count += 1\n"
    "    finally:\n        continue\n"
)


@pytest.mark.parametrize("policy", ["restricted", "trusted"])
@pytest.mark.parametrize(
    "source", [SWALLOW_LOOP, SWALLOW_WITH, SWALLOW_FINALLY], ids=["loop", "with", "finally"],
)  # fmt: skip
def test_a_cell_that_swallows_its_time_limit_still_stops(policy, source):
    s = Session(Config(mode="python", cell_timeout=0.5), policy=policy)
    assert s.run("kept = 'yes'").error is None
    result = s.run(source)
    assert isinstance(result.error, CellTimeout)
    assert s.run("kept").value == "yes"
    assert s.namespace[STOP_NAME] is None  # the next cell runs normally
    assert s.run("total = 0\nfor i in range(3):\n    total += i\ntotal").value == 3


def test_a_cell_that_swallows_interrupts_still_stops():
    s = Session(Config(mode="python"), policy="trusted")
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):  # as for any interrupted cell
            s.run(SWALLOW_LOOP)
    finally:
        timer.cancel()
    assert s.namespace["n"] > 0 and s.namespace[STOP_NAME] is None
    assert s.run("n > 0").value is True


def test_checks_go_where_a_stop_could_be_swallowed_and_keep_docstrings():
    source = (
        "def f():\n    'doc'\n    for x in y:\n        try:\n            g()\n"
        "        except:\n            pass\n"
    )
    func = add_stop_checks(ast.parse(source)).body[0]
    assert ast.get_docstring(func) == "doc"
    assert ast.unparse(func.body[1]) == f"if {STOP_NAME}:\n    raise {STOP_NAME}"
    assert ast.unparse(func.body[2].body[0]) == f"if {STOP_NAME}:\n    raise {STOP_NAME}"


@pytest.mark.parametrize(
    ("body", "checked"),
    [("x += 1", False), ("try:\n        x += 1\n    except (ValueError, Exception):\n        pass", False),
     ("try:\n        x += 1\n    finally:\n        y = 2", False),
     ("try:\n        x += 1\n    except BaseException:\n        pass", True),
     ("try:\n        x += 1\n    except MyError:\n        pass", True),
     ("try:\n        x += 1\n    finally:\n        continue", True),
     ("with ctx():\n        x += 1", True)],
)  # fmt: skip
def test_only_loops_that_could_swallow_a_stop_pay_for_a_check(body, checked):
    loop = add_stop_checks(ast.parse(f"while x < 10:\n    {body}\n")).body[0]
    assert (STOP_NAME in ast.unparse(loop)) is checked


def test_a_cell_cannot_clear_the_stop_under_the_restricted_policy():
    s = Session(Config(mode="python"))
    result = s.run(f"{STOP_NAME} = None")
    assert result.error is not None
