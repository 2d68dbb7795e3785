"""The fake chat client of logic tests answers by target, whatever the prompt's wording."""

import json

import pytest

from lmulator import Config, Session
from lmulator.errors import EmulationError
from lmulator.lm.reply import delta_schema, value_schema
from lmulator.testing import FakeChatClient


def ask(client, question, schema):
    messages = [
        {"role": "user", "content": "example: f('x')"},
        {"role": "user", "content": question},
    ]
    return json.loads(client.complete(messages, schema, "reply"))


def test_the_longest_target_in_the_last_question_wins():
    client = FakeChatClient({"f('x')": 1, "f('x', 2)": 2})
    assert ask(client, "Emulate: f('x', 2)", value_schema()) == {"value": 2}
    assert ask(client, "any wording around f('x') at all", value_schema()) == {"value": 1}
    assert len(client.asked) == 2


def test_deltas_answer_statement_requests_and_a_miss_is_a_clear_error():
    client = FakeChatClient(deltas={"total += n": {"total": 3}})
    assert ask(client, "`total += n`", delta_schema(("total",))) == {"delta": {"total": 3}}
    with pytest.raises(EmulationError, match="no value for"):
        ask(client, "Emulate: g(1)", value_schema())


def test_a_session_runs_on_it_without_http():
    client = FakeChatClient({"get_country('Paris')": "France"})
    session = Session(Config(cache="off"), client=client)
    assert session.run("get_country('Paris')").value == "France"
    assert session.emulator.requests_sent == 1
