"""Confidence from token log-probabilities: the definition, and its way from the endpoint to the
trace, the marks, the cache, replay files and min_confidence."""

from __future__ import annotations

import json
import math

import pytest

from lmulator.config import Config, from_env
from lmulator.engine.session import Session
from lmulator.engine.trace import describe, listing
from lmulator.errors import ConfigError, EmulationError
from lmulator.isolation.messages import decode_record
from lmulator.lm.client import OpenAIChatClient
from lmulator.lm.confidence import checked_confidence, reply_confidence, value_spans
from lmulator.testing import delta_rule, value_rule
from lmulator.testing.server import split_tokens


def tokens(*pairs: tuple[str, float]) -> list[tuple[str, float, bytes | None]]:
    return [(t, lp, None) for t, lp in pairs]


# -- the definition ------------------------------------------------------------------------


def test_only_the_tokens_that_spell_the_value_count():
    text = '{"value": true}'
    toks = tokens(('{"', -5.0), ("value", -3.0), ('":', -2.0), (" true", -0.5), ("}", -4.0))
    assert reply_confidence(text, toks) == pytest.approx(math.exp(-0.5))


def test_a_value_of_several_tokens_is_the_product_of_their_probabilities():
    text = '{"value": [1, 2]}'
    toks = tokens(('{"value": ', -9.0), ("[", -0.1), ("1", -0.2), (",", 0.0), (" 2", -0.3),
                  ("]}", -0.4))  # fmt: skip
    # "]}" spells the value's last bracket as well as the reply's brace: it counts
    assert reply_confidence(text, toks) == pytest.approx(math.exp(-1.0))


def test_a_delta_counts_its_names_and_values_not_the_reply_key():
    text = '{"delta": {"n": 5}}'
    toks = tokens(('{"', -7.0), ("delta", -7.0), ('":', -7.0), (" {", -0.1), ('"n', -0.2),
                  ('":', 0.0), (" 5", -0.3), ("}}", -0.4))  # fmt: skip
    assert reply_confidence(text, toks) == pytest.approx(math.exp(-1.0))


def test_value_spans_follow_what_the_reply_parser_accepts():
    fenced = '```json\n{"value": "a"}\n```'
    assert [fenced[a:b] for a, b in value_spans(fenced) or []] == ['"a"']
    two = '  {"value": 1, "extra": {"b": 2}} trailing prose'
    assert [two[a:b] for a, b in value_spans(two) or []] == ["1", '{"b": 2}']
    assert value_spans('{"value": }') is None
    assert value_spans("[1]") is None
    assert value_spans("{}") == []


def test_no_number_is_made_up():
    text = '{"value": 1}'
    assert reply_confidence(text, None) is None
    assert reply_confidence(text, []) is None
    # tokens that do not spell the reply cannot be lined up with it
    assert reply_confidence(text, tokens(('{"value": 2}', -0.1))) is None
    assert reply_confidence(text, tokens(('{"value":', -0.1))) is None  # too short
    assert reply_confidence("not json", tokens(("not json", -0.1))) is None
    assert reply_confidence(text, tokens(('{"value": ', 0.0), ("1", math.nan), ("}", 0))) is None


def test_bytes_line_up_characters_split_across_tokens():
    text = '{"value": "é"}'
    e = "é".encode()
    toks = [('{"value": "', 0.0, None), ("", -0.1, e[:1]), ("é", -0.2, e[1:]), ('"}', -0.3, None)]
    assert reply_confidence(text, toks) == pytest.approx(math.exp(-0.6))


def test_a_confidence_is_a_number_in_0_1_or_null():
    assert checked_confidence(None) is None
    assert checked_confidence(1) == 1.0
    for bad in (True, "0.5", -0.1, 1.5, math.nan, [0.5]):
        with pytest.raises(ValueError):
            checked_confidence(bad)


def test_the_scripted_servers_tokens_spell_the_text():
    text = '{"value": [1, "a b"], "x": null}'
    assert "".join(split_tokens(text)) == text


# -- from the endpoint to the trace and the marks --------------------------------------------


def test_confidence_reaches_the_trace_and_the_marks(lm, session):
    lm.rules(value_rule("is_fruit('kiwi')", False, logprob=-0.5))
    s = session()
    result = s.run("ok = is_fruit('kiwi')")
    (record,) = result.emulated
    assert record.confidence == pytest.approx(math.exp(-0.5))
    assert record.to_dict()["confidence"] == pytest.approx(0.6065, abs=1e-4)
    assert "[confidence 0.61]" in describe(record)
    assert "confidence 0.61" in listing("ok = is_fruit('kiwi')", result.trace)
    assert lm.log()[0]["logprobs"] is True


def test_an_endpoint_without_logprobs_gives_null_and_says_so(lm, session):
    lm.rules(value_rule("is_fruit('plum')", True))
    result = session().run("is_fruit('plum')")
    (record,) = result.emulated
    assert record.confidence is None
    assert record.to_dict()["confidence"] is None
    assert "[no confidence from the endpoint]" in describe(record)


def test_an_endpoint_that_refuses_logprobs_is_asked_again_without(lm):
    lm.rules(value_rule("f(1)", 1), reject_logprobs=True)
    client = OpenAIChatClient(lm.base_url, None, "scripted", schema_style="json_object")
    messages = [{"role": "user", "content": "Emulate: f(1)"}]
    assert client.complete_scored(messages, {}, "value").confidence is None
    client.complete_scored(messages, {}, "value")
    assert [bool(body.get("logprobs")) for body in lm.log()] == [True, False, False]


def test_a_delta_has_one_confidence(lm, session):
    lm.rules(delta_rule("n = int(w)", {"n": 3}, logprob=-0.25))
    s = session()
    s.run("w = 'three'")
    result = s.run("n = int(w)")
    (record,) = result.emulated
    # the scripted server splits `{"delta": {"n": 3}}` into { " delta " : ␣{ " n " : ␣3 } }:
    # the seven from ␣{ to the first } spell the delta
    assert record.confidence == pytest.approx(math.exp(-0.25 * 7))


def test_records_not_from_the_lm_carry_no_confidence(plain):
    result = plain.run("x = 1")
    assert all("confidence" not in r.to_dict() for r in result.trace)


def test_the_isolated_child_sends_the_confidence_on():
    record = decode_record({"line": 1, "source": "x", "status": "emulated", "how": "lm",
                            "confidence": 0.25})  # fmt: skip
    assert record is not None and record.confidence == 0.25
    bad = decode_record({"line": 1, "source": "x", "status": "emulated", "confidence": 7})
    assert bad is not None and bad.confidence is None


# -- min_confidence ------------------------------------------------------------------------


def test_min_confidence_turns_a_doubtful_value_into_an_error(lm, session):
    lm.rules(
        value_rule("is_fruit('kiwi')", False, logprob=-1.0),  # 0.37
        value_rule("is_fruit('apple')", True, logprob=-0.05),  # 0.95
    )
    s = session(min_confidence=0.6)
    sure = s.run("a = is_fruit('apple')")
    assert sure.ok and s.namespace["a"] is True
    doubtful = s.run("k = is_fruit('kiwi')")
    assert isinstance(doubtful.error, EmulationError)
    assert "k" not in s.namespace
    (record,) = [r for r in doubtful.trace if r.status == "error"]
    assert record.confidence == pytest.approx(math.exp(-1.0))
    assert "confidence 0.37 is below min_confidence 0.6" in record.error
    assert record.to_dict()["confidence"] == pytest.approx(0.3679, abs=1e-4)
    assert listing("k = is_fruit('kiwi')", doubtful.trace).startswith("! 1 │")


def test_min_confidence_refuses_an_answer_of_unknown_confidence(lm, session):
    lm.rules(value_rule("is_fruit('plum')", True))
    s = session(min_confidence=0.1)
    result = s.run("p = is_fruit('plum')")
    assert isinstance(result.error, EmulationError)
    assert "no confidence from the endpoint" in str(result.error)


def test_min_confidence_turns_a_doubtful_delta_into_an_error(lm, session):
    lm.rules(delta_rule("n = int(w)", {"n": 3}, logprob=-2.0))
    s = session(min_confidence=0.5)
    s.run("w = 'three'\nn = 0")
    result = s.run("n = int(w)")
    assert isinstance(result.error, EmulationError)
    assert s.namespace["n"] == 0


def test_min_confidence_is_range_checked_and_read_from_the_environment():
    assert from_env({"LMULATOR_MIN_CONFIDENCE": "0.6"}).min_confidence == 0.6
    assert from_env({}).min_confidence == 0.0
    for bad in ("1.5", "-0.1", "nan"):
        with pytest.raises(ConfigError, match="min_confidence"):
            from_env({"LMULATOR_MIN_CONFIDENCE": bad})
    with pytest.raises(ConfigError):
        from_env({"LMULATOR_MIN_CONFIDENCE": "sure"})
    with pytest.raises(ConfigError):
        Config().with_(min_confidence=2.0)


# -- cache and replay ------------------------------------------------------------------------


def test_a_cached_reply_keeps_its_confidence(lm, tmp_path):
    lm.rules(value_rule("is_fruit('kiwi')", False, logprob=-0.5))
    cfg = Config(base_url=lm.base_url, model="scripted", cache=str(tmp_path / "c.sqlite3"))
    first = Session(cfg).run("is_fruit('kiwi')").emulated[0]
    lm.rules(value_rule("is_fruit('kiwi')", False))  # the endpoint now gives none
    again = Session(cfg).run("is_fruit('kiwi')").emulated[0]
    assert len(lm.log()) == 1
    assert again.confidence == first.confidence == pytest.approx(math.exp(-0.5))


def test_a_cache_made_before_confidences_reads_them_as_null(lm, tmp_path):
    import sqlite3

    from lmulator.lm.cache import ReplyCache

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE replies (key TEXT PRIMARY KEY, model TEXT, endpoint TEXT, "
                 "request TEXT, reply TEXT, created REAL)")  # fmt: skip
    conn.execute("INSERT INTO replies VALUES ('k', 'm', 'e', '{}', '{\"value\": 1}', 0)")
    conn.commit()
    conn.close()
    cache = ReplyCache(path)
    hit = cache.get_scored("k")
    assert hit is not None and hit.text == '{"value": 1}' and hit.confidence is None
    cache.put("k2", "m", "e", {}, '{"value": 2}', 0.75)
    assert cache.get_scored("k2").confidence == 0.75  # type: ignore[union-attr]


def test_a_replayed_reply_keeps_its_confidence(lm, tmp_path):
    lm.rules(value_rule("is_fruit('kiwi')", False, logprob=-0.5))
    path = tmp_path / "p.lmreplay.jsonl"
    cfg = Config(base_url=lm.base_url, model="scripted", cache="off", record="record",
                 record_path=str(path))  # fmt: skip
    Session(cfg).run("is_fruit('kiwi')")
    entry = json.loads(path.read_text().splitlines()[0])
    assert entry["confidence"] == pytest.approx(math.exp(-0.5))
    replayed = Session(cfg.with_(record="replay")).run("is_fruit('kiwi')").emulated[0]
    assert replayed.how == "replay"
    assert replayed.confidence == pytest.approx(math.exp(-0.5))
    # a record written before confidences were kept replays with none
    del entry["confidence"]
    path.write_text(json.dumps(entry) + "\n")
    old = Session(cfg.with_(record="replay")).run("is_fruit('kiwi')").emulated[0]
    assert old.confidence is None
    assert len(lm.log()) == 1


def test_a_replay_record_with_a_malformed_confidence_is_refused(tmp_path):
    from lmulator.lm.replay import ReplayBook

    path = tmp_path / "bad.lmreplay.jsonl"
    path.write_text(json.dumps({"key": "k", "reply": "{}", "confidence": 3}) + "\n")
    with pytest.raises(ConfigError, match="confidence"):
        ReplayBook(path, "replay")


# -- the CLI and the kernel's %lm ------------------------------------------------------------


def test_the_cli_shows_confidences_and_applies_min_confidence(lm, tmp_path):
    from tests.test_cli import run_cli

    lm.rules(
        value_rule("is_fruit('kiwi')", False, logprob=-1.0),
        value_rule("is_fruit('apple')", True, logprob=-0.01),
    )
    program = tmp_path / "fruit.py"
    program.write_text("a = is_fruit('apple')\nk = is_fruit('kiwi')\nprint(a, k)\n")
    trace = tmp_path / "trace.json"
    proc = run_cli("run", str(program), "--base-url", lm.base_url, "--trace-json", str(trace))
    assert proc.returncode == 0, proc.stderr
    assert "[confidence 0.99]" in proc.stdout and "[confidence 0.37]" in proc.stdout
    records = json.loads(trace.read_text())
    records = records["records"] if isinstance(records, dict) else records
    assert [round(r["confidence"], 2) for r in records if r["status"] == "emulated"] == [0.99, 0.37]
    proc = run_cli("run", str(program), "--base-url", lm.base_url, "--min-confidence", "0.6")
    assert proc.returncode != 0
    assert "True False" not in proc.stdout
    assert "below min_confidence 0.6" in proc.stdout + proc.stderr
    bad = run_cli("run", str(program), "--base-url", lm.base_url, "--min-confidence", "1.5")
    assert bad.returncode == 2 and "min_confidence" in bad.stderr


def test_the_kernels_lm_magic_sets_min_confidence():
    from cockernel.lm_settings import config_with, describe_lm, parse_lm_settings

    config = config_with(Config(), parse_lm_settings("min_confidence=0.6"), False, "n.ipynb")
    assert config.validate().min_confidence == 0.6
    assert "at least 0.6" in describe_lm(config, "restricted")
    with pytest.raises(ConfigError):
        config_with(Config(), parse_lm_settings("min_confidence=2"), False, "n.ipynb").validate()


def test_the_kernels_marks_and_trace_table_show_the_confidence(lm, session):
    from cockernel.render import TRACE_MIME, mark_bundle, trace_table

    lm.rules(value_rule("is_fruit('kiwi')", False, logprob=-0.5), value_rule("f(2)", 4))
    source = "k = is_fruit('kiwi')\nn = f(2)"
    result = session().run(source)
    bundle = mark_bundle(source, result.trace)
    assert bundle is not None
    data, _ = bundle
    for mime in ("text/plain", "text/html"):
        assert "confidence 0.61" in data[mime]
        assert "no confidence from the endpoint" in data[mime]
    confidences = [r["confidence"] for r in data[TRACE_MIME]["records"]]
    assert confidences[0] == pytest.approx(0.6065, abs=1e-4) and confidences[1] is None
    table = trace_table(result.emulated)
    assert "confidence 0.61" in table["text/plain"]
    assert "no confidence from the endpoint" in table["text/html"]
