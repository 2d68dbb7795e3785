"""What a run spends on the LM, and the budget that stops it: metering, charging from clients
(their request threads too), streamed replies, and budgets in a Session."""

import threading

import pytest

from lmulator import Config, Session
from lmulator.errors import ConfigError
from lmulator.lm.client import OpenAIChatClient, stream_text
from lmulator.testing import FakeChatClient, value_rule
from lmulator.usage import (
    Budget,
    BudgetSpent,
    Spent,
    charge,
    check_budget,
    current_meter,
    metering,
    reported_usage,
)

PROGRAM = "```python\nx = 1\ny = 2\nanswer = x + y\n```"


def test_nothing_is_charged_outside_a_run():
    charge(1, 10, 10)  # no meter: nothing to charge, nothing raised
    check_budget()
    assert current_meter() is None


def test_a_run_inside_a_run_shares_its_meter_and_budget():
    with metering(Budget(calls=3)) as outer:
        with metering(Budget(calls=100)) as inner:
            assert inner is outer and inner.budget.calls == 3
            charge(1, 5, 2)
        with metering(fresh=True) as apart:
            charge(1, 1, 1)
            assert apart is not outer and apart.spent.calls == 1
    assert (outer.spent.calls, outer.spent.prompt_tokens, outer.spent.completion_tokens) == (
        1,
        5,
        2,
    )


def test_charges_from_other_threads_in_the_context_land_on_the_meter():
    import contextvars

    with metering() as meter:
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(charge, 1, 3, 4))
            for _ in range(20)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert (meter.spent.calls, meter.spent.tokens) == (20, 140)


@pytest.mark.parametrize(
    ("budget", "spent", "refused"),
    [
        (Budget(calls=2), Spent(calls=1), False),
        (Budget(calls=2), Spent(calls=2), True),
        (Budget(tokens=100), Spent(calls=9, prompt_tokens=60, completion_tokens=39), False),
        (Budget(tokens=100), Spent(calls=1, prompt_tokens=60, completion_tokens=40), True),
        (Budget(), Spent(calls=10**6, prompt_tokens=10**9), False),
    ],
)
def test_the_budget_refuses_the_request_after_it_is_reached(budget, spent, refused):
    with metering(budget) as meter:
        meter.spent = spent
        if refused:
            with pytest.raises(BudgetSpent, match="LM budget is spent"):
                check_budget()
        else:
            check_budget()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"calls": 1, "prompt_tokens": 20, "completion_tokens": 3}, (1, 20, 3)),
        ({"calls": 0}, (0, 0, 0)),
        ({"calls": -1}, None),
        ({"calls": True}, None),
        ({"calls": 1, "prompt_tokens": 1.5}, None),
        ({"calls": 1, "prompt_tokens": 10**12}, None),
        ("1 call", None),
        (None, None),
    ],
)
def test_usage_another_process_reports_is_believed_only_when_well_formed(value, expected):
    assert reported_usage(value) == expected


def test_spent_describes_itself_in_one_line():
    line = Spent(calls=1, prompt_tokens=812, completion_tokens=95, seconds=4.24).describe()
    assert line == "LM: 1 call, 812 prompt + 95 completion tokens, 4.2 s"


def test_config_checks_the_budgets():
    assert Config(max_calls=3, max_tokens=900).validate().budget() == Budget(3, 900)
    for bad in ({"max_calls": -1}, {"max_tokens": 2.5}, {"max_calls": True}):
        with pytest.raises(ConfigError, match="whole number"):
            Config(**bad).validate()  # type: ignore[arg-type]


def test_config_reads_the_budgets_from_the_environment():
    from lmulator.config import from_env

    cfg = from_env({"LMULATOR_MAX_CALLS": "4", "LMULATOR_MAX_TOKENS": "2000"})
    assert (cfg.max_calls, cfg.max_tokens) == (4, 2000)
    with pytest.raises(ConfigError):
        from_env({"LMULATOR_MAX_CALLS": "four"})


def test_a_session_counts_what_each_cell_spent_and_stops_at_its_budget():
    client = FakeChatClient(values={"w(1)": 1, "w(2)": 2, "w(3)": 3, "w(4)": 4})
    session = Session(Config(max_calls=2, cache="off"), client=client)
    result = session.run("a = w(1)\nb = w(2)")
    assert result.ok and result.lm_spent is not None and result.lm_spent.calls == 2
    result = session.run("c = w(3)\nd = w(1)")  # a new cell: a new budget; w(1) is memoized
    assert result.ok and result.lm_spent.calls == 1
    session.set_config(session.config.with_(max_calls=1))
    result = session.run("e = w(4) + 0\nf = z(1)")
    assert isinstance(result.error, BudgetSpent)
    assert "1 of 1 calls" in str(result.error)
    assert session.namespace["e"] == 4  # what ran before the budget stays


def test_a_partial_program_stops_at_its_budget_instead_of_skipping_on():
    client = FakeChatClient(deltas={"a = int('x')": {"a": 1}, "b = int('y')": {"b": 2}})
    session = Session(Config(max_calls=1, cache="off", partial=True), client=client)
    result = session.run("a = int('x')\nb = int('y')")
    assert isinstance(result.error, BudgetSpent), result.error
    assert session.namespace["a"] == 1 and "b" not in session.namespace


def test_the_http_client_charges_calls_tokens_and_seconds(lm):
    lm.rules(value_rule("size('ant')", 1))
    client = OpenAIChatClient(lm.base_url, None, "scripted", timeout=10)
    with metering() as meter:
        session = Session(Config(base_url=lm.base_url, cache="off"), client=client)
        assert session.run("size('ant')").value == 1
    assert meter.spent.calls == 1
    assert meter.spent.prompt_tokens > 0 and meter.spent.completion_tokens > 0
    assert meter.spent.seconds > 0


def test_a_streamed_reply_comes_in_growing_pieces_and_is_charged(lm):
    lm.rules({"match": ["Q"], "content": PROGRAM, "fault": {"stream_delay": 0.03}})
    client = OpenAIChatClient(lm.base_url, None, "scripted", timeout=10)
    pieces: list[str] = []
    with metering() as meter:
        text = stream_text(client, [{"role": "user", "content": "Q"}], 100, pieces.append)
    assert text == PROGRAM
    assert len(pieces) >= 3 and pieces[-1] == PROGRAM
    assert all(PROGRAM.startswith(p) for p in pieces)
    assert meter.spent.calls == 1 and meter.spent.completion_tokens > 0
    (body,) = lm.log()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_an_exception_from_the_callback_ends_the_stream_and_its_connection(lm):
    lm.rules({"match": ["Q"], "content": PROGRAM * 20, "fault": {"stream_delay": 0.05}})
    client = OpenAIChatClient(lm.base_url, None, "scripted", timeout=30)

    def stop(_text: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stream_text(client, [{"role": "user", "content": "Q"}], 100, stop)
    lm.rules({"match": ["R"], "content": "fine"})
    assert client.complete_text([{"role": "user", "content": "R"}]) == "fine"  # goes on


def test_a_stream_from_an_endpoint_without_usage_counts_its_chunks(lm):
    lm.rules({"match": ["Q"], "content": PROGRAM})
    client = OpenAIChatClient(lm.base_url, None, "scripted", timeout=10)
    client.stream_usage = False  # as for an endpoint that refused the option
    with metering() as meter:
        stream_text(client, [{"role": "user", "content": "Q"}], 100, lambda _t: None)
    assert meter.spent.prompt_tokens == 0 and meter.spent.completion_tokens > 5


def test_a_client_that_does_not_stream_hands_over_the_whole_reply_once():
    client = FakeChatClient(text=PROGRAM)
    pieces: list[str] = []
    assert stream_text(client, [{"role": "user", "content": "Q"}], 100, pieces.append) == PROGRAM
    assert pieces == [PROGRAM]


def test_the_budget_is_checked_before_a_request_is_sent(lm):
    lm.rules({"match": ["Q"], "content": "x"})
    client = OpenAIChatClient(lm.base_url, None, "scripted", timeout=10)
    with metering(Budget(calls=1)):
        client.complete_text([{"role": "user", "content": "Q"}])
        with pytest.raises(BudgetSpent):
            client.complete_text([{"role": "user", "content": "Q"}])
    assert len(lm.log()) == 1
