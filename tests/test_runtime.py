"""The runtime behind the hooks: deltas bound into a function's locals, a program's own `try`
left to the program, missing calls and names handed to the emulator."""

from lmulator import Config, Session
from lmulator.testing import FakeChatClient


def session(client: FakeChatClient) -> Session:
    return Session(Config(cache="off"), client=client)


def test_a_failing_statement_in_a_function_gets_its_delta_as_locals():
    client = FakeChatClient(deltas={"b = a.missing()": {"b": 5}})
    s = session(client)
    result = s.run("def f(a):\n    b = a.missing()\n    return b + 1\nr = f(1)")
    assert result.error is None, result.error
    assert s.namespace["r"] == 6 and "b" not in s.namespace
    assert len(client.asked) == 1 and "a.missing()" in client.asked[0]


def test_inside_the_programs_own_try_a_failure_reaches_its_handler_not_the_lm():
    client = FakeChatClient()
    s = session(client)
    source = (
        "def g():\n    try:\n        x = 1 / 0\n    except ZeroDivisionError:\n"
        "        x = -1\n    return x\nr = g()"
    )
    assert s.run(source).error is None
    assert s.namespace["r"] == -1 and client.asked == []


def test_a_missing_call_and_a_missing_name_go_to_the_emulator_with_their_arguments():
    client = FakeChatClient({"get_country('Paris')": "France", "threshold": 0.5})
    s = session(client)
    result = s.run("c = get_country('Paris')\nt = threshold * 2\n(c, t)")
    assert result.value == ("France", 1.0)
    assert [r.target for r in result.trace if r.status == "emulated"] == [
        "get_country('Paris')",
        "threshold",
    ]


def test_a_delta_may_not_rebind_a_module():
    client = FakeChatClient(deltas={"when = ": {"when": "2009"}})
    s = session(client)
    result = s.run("import datetime\nwhen = datetime.date.fromtimestamp('x')")
    assert result.error is None and s.namespace["when"] == "2009"
    assert "datetime" in s.namespace and not isinstance(s.namespace["datetime"], str)
    (asked,) = [r for r in result.trace if r.delta is not None]
    assert list(asked.request["keys"]) == ["when"]
