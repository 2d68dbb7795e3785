"""A masked error is never silent, and a value that came from the LM says so."""

import pytest

from lmulator.config import Config
from lmulator.engine.masking import MaskedError, masked_summary, value_note
from lmulator.engine.session import Session
from lmulator.testing import FakeChatClient

BUG = 'total = 4\nprint("adding")\n\ntotal = total + "3"\ntotal'
TYPE_ERROR = "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
STOP = "%lm raise_errors=on to stop there"


def session(client, **config) -> Session:
    policy = config.pop("policy", "restricted")
    return Session(Config(cache="off", **config), policy=policy, client=client)


def test_a_masked_type_error_is_noted_with_its_line_and_summarized():
    client = FakeChatClient(deltas={'total = total + "3"': {"total": 7}})
    result = session(client).run(BUG)
    assert result.error is None and result.value == 7
    assert result.masked == [MaskedError(4, TYPE_ERROR)]
    assert masked_summary(result.masked, STOP, "") == [
        "masked TypeError at line 4: unsupported operand type(s) for +: 'int' and 'str'; "
        "%lm raise_errors=on to stop there"
    ]
    assert result.value_origin == "emulated"


def test_raise_errors_stops_at_the_bug_and_nothing_is_masked():
    client = FakeChatClient(deltas={'total = total + "3"': {"total": 7}})
    result = session(client, raise_errors=True).run(BUG)
    assert isinstance(result.error, TypeError) and result.masked == [] and client.asked == []


def test_the_line_is_where_the_error_was_raised_in_this_cell():
    client = FakeChatClient(deltas={"n = int(word)": {"n": 2}})
    source = "def parse(word):\n    n = int(word)\n    return n\nparse('two')"
    result = session(client).run(source)
    assert result.value == 2
    assert [(m.line, m.error.split(":")[0]) for m in result.masked] == [(2, "ValueError")]


def test_several_masked_errors_are_one_line():
    client = FakeChatClient(deltas={"a = int('x')": {"a": 1}, "b = [][3]": {"b": 2}})
    result = session(client).run("a = int('x')\nb = [][3]")
    (line,) = masked_summary(result.masked, STOP, "")
    assert line.startswith("masked ValueError at line 1 (and 1 more): invalid literal")


def test_a_missing_definition_is_not_a_masked_bug():
    client = FakeChatClient(deltas={"import numpy_not_installed": {}})
    result = session(client, policy="trusted").run("import numpy_not_installed")
    assert result.error is None and result.masked == []


def test_an_invented_result_has_its_own_line():
    masked = [MaskedError(1, "FileNotFoundError: [Errno 2] No such file", invented=True)]
    assert masked_summary(masked, STOP, "%lm emulate_io=off to raise it") == [
        "invented a result for FileNotFoundError at line 1: [Errno 2] No such file; "
        "invented: the operation did not run; %lm emulate_io=off to raise it"
    ]


def test_taint_follows_names_across_cells_and_stops_at_a_clean_rebind():
    client = FakeChatClient(values={"guess()": 5})
    s = session(client)
    assert s.run("x = guess()\nx").value_origin == "emulated"
    assert s.run("y = x + 1").error is None
    assert s.run("y * 2").value_origin == "emulated"
    assert "from LM values" in s.lm_names["y"]
    assert s.run("items = []\nitems.append(y)").error is None
    assert s.run("len(items)").value_origin == "emulated"
    assert s.run("y = 3").error is None
    assert s.run("y * 2").value_origin is None
    assert s.run("1 + 1").value_origin is None


@pytest.mark.parametrize("mode", ["python", "interweave"])
def test_a_plain_value_is_not_marked(mode):
    result = session(FakeChatClient(), mode=mode).run("n = 20\nn + 22")
    assert result.value == 42 and result.value_origin is None and result.masked == []


def test_the_note_beside_a_value():
    assert value_note("emulated").startswith("~ emulated")
    assert value_note("invented").startswith("? invented: the operation did not run")


RECURRING = (
    "def first(d, k):\n"
    "    return d[k]\n"
    "found = []\n"
    "for k in range(10):\n"
    "    found.append(first({}, k))\n"
)


def test_an_error_that_recurs_at_one_line_is_stood_in_for_three_times_then_raises():
    # a lookup that fails every iteration: the LM is asked for its value three times, not ten;
    # the fourth KeyError reaches the loop, which fails as any top-level statement does
    client = FakeChatClient(values={"d[k]": 0}, deltas={"for k in range(10)": {"found": [9]}})
    result = session(client).run(RECURRING + "found")
    assert [q.count("KeyError") for q in client.asked] == [1, 1, 1, 1]
    assert ["for k in range(10)" in q for q in client.asked] == [False, False, False, True]
    assert result.error is None and result.value == [9]
    assert [m.line for m in result.masked] == [2, 2, 2, 2]  # each where the KeyError was raised


def test_with_nothing_to_stand_in_for_the_loop_the_recurring_error_raises():
    client = FakeChatClient(values={"d[k]": 0})
    result = session(client, emulate_statements=False).run(RECURRING)
    assert isinstance(result.error, KeyError) and client.asked == []


def test_errors_at_different_lines_each_get_their_own_three():
    client = FakeChatClient(values={"d[k]": 0, "e[k]": 1})
    source = (
        "def first(d, k):\n    return d[k]\n"
        "def second(e, k):\n    return e[k]\n"
        "total = 0\n"
        "for k in range(2):\n    total += first({}, k) + second({}, k)\n"
        "total"
    )
    result = session(client).run(source)
    assert result.error is None and result.value == 2
    assert sorted(m.line for m in result.masked) == [2, 2, 4, 4]
