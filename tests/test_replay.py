"""Record and replay: a run re-runs offline to identical output."""

import json

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import ConfigError, EmulationError
from lmulator.lm.replay import replay_path_for
from lmulator.testing import delta_rule, value_rule

PROGRAM = "xs = ['Paris', 'Rome']\nys = [get_country(x) for x in xs]\nn = int('two')\nys, n"


def test_record_then_replay_without_the_lm(lm, tmp_path):
    lm.rules(
        value_rule("get_country('Paris')", "France"),
        value_rule("get_country('Rome')", "Italy"),
        {"match": ["Emulate: ys, n"], "reply": {"value": 0}},
        delta_rule("n = int('two')", {"n": 2}),
    )
    path = tmp_path / "prog.lmreplay.jsonl"
    recorded = Session(
        Config(base_url=lm.base_url, cache="off", record="record", record_path=str(path))
    ).run(PROGRAM)
    assert recorded.value == (["France", "Italy"], 2)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    assert [e["line"] for e in entries] == [2, 2, 3]
    assert entries[0]["target"] == "get_country('Paris')"
    sent = len(lm.log())
    # Replay talks to no endpoint at all.
    replayed = Session(
        Config(base_url="http://127.0.0.1:9/v1", record="replay", record_path=str(path))
    ).run(PROGRAM)
    assert replayed.value == recorded.value
    assert [r.to_dict()["value" if r.has_value else "delta"] for r in replayed.emulated] == [
        r.to_dict()["value" if r.has_value else "delta"] for r in recorded.emulated
    ]
    assert len(lm.log()) == sent


def test_replay_miss_fails_clearly(tmp_path):
    path = tmp_path / "p.lmreplay.jsonl"
    path.write_text("")
    result = Session(Config(record="replay", record_path=str(path))).run("a = 1\nb = oracle(a)")
    assert isinstance(result.error, EmulationError)
    assert str(result.error) == "no recorded reply for line 2: oracle(1)"


def test_missing_replay_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Session(Config(record="replay", record_path=str(tmp_path / "none.jsonl")))


def test_replay_file_sits_next_to_the_program():
    assert str(replay_path_for("/a/b/demo.ipynb")) == "/a/b/demo.lmreplay.jsonl"
    assert str(replay_path_for("run.py")) == "run.lmreplay.jsonl"


def test_record_starts_the_file_afresh(lm, tmp_path):
    lm.rules(value_rule("f(1)", 1))
    path = tmp_path / "r.jsonl"
    path.write_text('{"stale": true}\n')
    Session(Config(base_url=lm.base_url, cache="off", record="record", record_path=str(path))).run(
        "f(1)"
    )
    assert "stale" not in path.read_text()


LOOP = "ys = []\nfor w in ['a', 'b']:\n    ys.add(w)\nys"


@pytest.mark.parametrize(
    ("edited", "line"),
    [
        (LOOP.replace("ys.add(w)", "ys.add(w.upper())"), "ys.add(w.upper())"),  # other text
        (LOOP.replace("['a', 'b']", "['c', 'b']"), "ys.add(w)"),  # other values read
        (LOOP.replace("ys", "zs"), "zs.add(w)"),  # other names
    ],
)
def test_a_delta_is_replayed_only_for_the_statement_it_was_recorded_for(lm, tmp_path, edited, line):
    lm.rules(delta_rule("ys.add(w)", {"ys": ["X"]}))
    path = tmp_path / "loop.lmreplay.jsonl"
    recorded = Session(
        Config(base_url=lm.base_url, cache="off", record="record", record_path=str(path))
    ).run(LOOP)
    assert recorded.value == ["X"], recorded.error
    assert len(path.read_text().splitlines()) == 2  # one delta for each value of w
    replay = Config(base_url="http://127.0.0.1:9/v1", record="replay", record_path=str(path))
    assert Session(replay).run(LOOP).value == ["X"]  # the same program replays
    session = Session(replay)
    result = session.run(edited)
    assert isinstance(result.error, EmulationError) and result.error.line == 3
    assert str(result.error) == f"no recorded reply for line 3: {line}"
    assert session.namespace[line[:2]] == []  # nothing of the recorded delta was bound


def test_an_undecodable_replay_file_is_named(tmp_path):
    path = tmp_path / "bad.lmreplay.jsonl"
    path.write_bytes(b'{"key": "\xff\xfe", "reply": "{}"}\n')
    with pytest.raises(ConfigError, match=f"replay file {path} is not UTF-8 text"):
        Session(Config(record="replay", record_path=str(path)))
    path.write_text('{"key": "k", "reply": "{}"}\n{"key": \n')
    with pytest.raises(ConfigError, match=f"{path}:2: not a replay record"):
        Session(Config(record="replay", record_path=str(path)))
