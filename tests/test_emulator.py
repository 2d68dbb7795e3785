"""The emulator over real HTTP: memoization, retries, schema forms, all-or-nothing deltas."""

import json

from lmulator.errors import EmulationError
from lmulator.lm.emulator import Request, build_messages
from lmulator.testing import delta_rule, value_rule


def test_identical_requests_are_answered_once_per_session(lm, session):
    lm.rules(value_rule("label(1)", "one"))
    s = session()
    s.run("a = label(1)")
    s.run("b = label(1)\nc = [label(1) for _ in range(3)]")
    assert len(lm.log()) == 1
    assert s.namespace["c"] == ["one"] * 3


def test_memo_separates_different_stub_sources(lm, session):
    lm.rules(value_rule("f(1)", 1, times=1), value_rule("f(1)", 2))
    s = session()
    assert s.run("def f(x):\n    '''Version one.'''\nf(1)").value == 1
    assert s.run("def f(x):\n    '''Version two.'''\nf(1)").value == 2
    assert len(lm.log()) == 2


def test_malformed_reply_gets_one_retry_with_the_error_shown(lm, session):
    lm.rules(
        {"match": ["Emulate: score('a')"], "content": '{"value": '},
        {"match": ["That reply was invalid"], "reply": {"value": 0.5}},
    )
    result = session().run("score('a')")
    assert result.value == 0.5
    log = lm.log()
    assert len(log) == 2
    retry_messages = log[1]["messages"]
    assert retry_messages[-2] == {"role": "assistant", "content": '{"value": '}
    assert "not valid JSON" in retry_messages[-1]["content"]


def test_bad_delta_is_applied_all_or_nothing(lm, session):
    lm.rules(
        delta_rule("n = int(w)", {"n": 1, "print": 0}),
        {"match": ["That reply was invalid"], "reply": {"delta": {"n": 1, "w": "x", "len": 3}}},
    )
    s = session()
    s.run("w = 'one'\nn = 0")
    result = s.run("n = int(w)")
    assert isinstance(result.error, EmulationError)
    assert s.namespace["n"] == 0 and s.namespace["w"] == "one"
    assert "len" not in s.namespace
    assert s.run("len('ok')").value == 2


def test_delta_for_a_statement_names_only_its_names(lm, session):
    lm.rules(delta_rule("y = int(w)", {"y": 1}))
    s = session()
    s.run("w = 'one'")
    s.run("y = int(w)")
    body = lm.log()[0]
    schema = body["response_format"]["json_schema"]["schema"]
    assert sorted(schema["properties"]["delta"]["properties"]) == ["w", "y"]


def test_requests_use_json_schema_then_fall_back_to_json_object(lm, session):
    lm.rules(value_rule("a()", 1), value_rule("b()", 2), reject_json_schema=True)
    s = session()
    assert s.run("a()").value == 1
    assert s.run("b()").value == 2
    kinds = [body["response_format"]["type"] for body in lm.log()]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert lm.log()[-1]["response_format"]["schema"]["required"] == ["value"]


def test_requests_are_sent_at_temperature_zero_with_the_model_name(lm, session):
    lm.rules(value_rule("a()", 1))
    session().run("a()")
    body = lm.log()[0]
    assert body["temperature"] == 0 and body["model"] == "scripted"


def test_no_endpoint_and_no_embedded_model_is_a_clear_error(monkeypatch, tmp_path):
    from lmulator.config import Config
    from lmulator.engine.session import Session

    monkeypatch.setenv("LMULATOR_GGUF", str(tmp_path / "missing.gguf"))
    result = Session(Config()).run("x = undefined_thing()")
    assert isinstance(result.error, EmulationError)
    assert "LMULATOR_GGUF points at" in str(result.error)


def test_messages_carry_the_request_and_few_shot_examples():
    req = Request(kind="value", target="f(1)", line=3, statement="y = f(1)", context="y = f(1)")
    messages = build_messages(req)
    assert messages[0]["role"] == "system"
    assert messages[-1]["role"] == "user" and "Emulate: f(1)" in messages[-1]["content"]
    assert all(json.loads(m["content"]) for m in messages if m["role"] == "assistant")
