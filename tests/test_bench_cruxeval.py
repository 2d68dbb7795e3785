"""``python -m lmulator.bench cruxeval``: scoring known answers, calibration, and a journal."""

from __future__ import annotations

import json
import math
import random

import pytest

from lmulator.bench.__main__ import main
from lmulator.bench.calibration import accuracy_above, auroc
from lmulator.bench.cruxeval import extract_assertion, load_items, read_value, run, same_value
from lmulator.testing import value_rule

ITEMS = [
    {"id": "rev", "code": "def f(s):\n    return s[::-1]", "input": "'abc'", "output": "'cba'"},
    {"id": "pair", "code": "def f(a, b):\n    return (b, a)", "input": "1, 2", "output": "(2, 1)"},
    {"id": "len", "code": "def f(xs):\n    return len(xs) * 2", "input": "[1, 2, 3]",
     "output": "6"},
]  # fmt: skip


def direct_rule(call: str, answer: str) -> dict:
    return {"match": ["Provide the full assertion", f"assert {call} == ??\n[/PYTHON]\n[ANSWER]"],
            "content": f"assert {call} == {answer}\n[/ANSWER]"}  # fmt: skip


def cot_rule(call: str, answer: str) -> dict:
    return {"match": ["step by step", f"assert {call} == ??\n[/PYTHON]\n[THOUGHT]"],
            "content": f"Let's go.\n[/THOUGHT]\n[ANSWER]\nassert {call} == {answer}\n[/ANSWER]"}  # fmt: skip


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "crux.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    return path


def script(lm):
    lm.rules(
        # emulate: right and sure, right as a tuple but unsure, wrong and sure
        value_rule("f('abc')", "cba", logprob=-0.01),
        value_rule("f(1, 2)", {"$py": "(2, 1)"}, logprob=-0.3),
        value_rule("f([1, 2, 3])", 3, logprob=-0.05),
        direct_rule("f('abc')", "'cba'"),
        direct_rule("f(1, 2)", "[2, 1]"),  # a list is not the tuple
        direct_rule("f([1, 2, 3])", "6"),
        cot_rule("f('abc')", '"cba"'),
        cot_rule("f(1, 2)", "(2, 1)"),
        cot_rule("f([1, 2, 3])", "f([1, 2, 3])"),  # the call repeated is no answer
    )


def test_known_answers_are_scored_and_printed(lm, data):
    script(lm)
    lines: list[str] = []
    results = run(str(data), base_url=lm.base_url, model="scripted", out=lines.append)
    right = {m: [r.correct for r in rs] for m, rs in results.items()}
    assert right == {
        "emulate": [True, True, False],
        "direct": [True, False, True],
        "cot": [True, True, False],
    }
    assert lines[0].startswith("emulate: 66.7% (2/3); LM calls 3; tokens ")
    assert " prompt / " in lines[0] and "median" in lines[0]
    # the sure wrong answer (0.95) outranks the unsure right one (0.015): AUROC 1/2
    assert lines[1] == (
        "confidence AUROC: 0.50; accuracy where confidence >= 0.8: 50.0% (2 values)"
    )
    assert lines[2].startswith("direct: 66.7% (2/3); LM calls 3;")
    assert lines[3].startswith("cot: 66.7% (2/3); LM calls 3;")
    emulated = results["emulate"]
    assert [r.prediction for r in emulated] == ["'cba'", "(2, 1)", "3"]  # f never ran: 3, not 6
    assert emulated[0].confidence == pytest.approx(math.exp(-0.03))  # ␣" cba " spell it


def test_emulate_shows_the_code_and_asks_for_the_value(lm, data):
    script(lm)
    run(str(data), limit=1, method="emulate", base_url=lm.base_url, out=lambda _: None)
    (body,) = lm.log()
    question = body["messages"][-1]["content"]
    assert "def f(s):\n    return s[::-1]" in question
    assert "Emulate: f('abc')" in question and "value it returns" in question
    value_schema = body["response_format"]["json_schema"]["schema"]["properties"]["value"]
    assert {"type": "object"} in value_schema["anyOf"]  # any value: dicts too


def test_an_endpoint_without_logprobs_gives_no_calibration(lm, data):
    lm.rules(value_rule("f('abc')", "cba"))
    lines: list[str] = []
    run(str(data), limit=1, method="emulate", base_url=lm.base_url, out=lines.append)
    assert lines[1] == "confidence: none (the endpoint gave no log-probabilities)"


def test_a_journal_lets_a_stopped_run_go_on(lm, data, tmp_path):
    script(lm)
    journal = tmp_path / "journal.jsonl"
    run(str(data), limit=2, base_url=lm.base_url, journal=str(journal), out=lambda _: None)
    assert len(lm.log()) == 6
    assert len(journal.read_text().splitlines()) == 6
    lines: list[str] = []
    results = run(str(data), base_url=lm.base_url, journal=str(journal), out=lines.append)
    assert len(lm.log()) == 9  # only the third item was asked
    assert lines[0] == f"journal {journal}: 6 of 9 answers already scored"
    assert [r.id for r in results["emulate"]] == ["rev", "pair", "len"]
    assert len(journal.read_text().splitlines()) == 9
    journal.write_text(journal.read_text() + '{"id": "x"}\n')
    with pytest.raises(ValueError, match="line 10"):
        run(str(data), base_url=lm.base_url, journal=str(journal), out=lambda _: None)


def test_the_command_line(lm, data, capsys):
    script(lm)
    argv = ["cruxeval", "--data", str(data), "--offset", "2", "--method", "direct",
            "--base-url", lm.base_url, "--model", "scripted"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("direct: 100.0% (1/1); LM calls 1;")
    assert main(["cruxeval", "--data", str(data) + ".missing"]) == 2


def test_auroc_on_made_up_cases():
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.9, 0.8, 0.7, 0.6], [True, False, True, False]) == 0.75
    assert auroc([0.5, 0.5, 0.9], [True, False, False]) == 0.25  # a tie counts half
    assert auroc([0.4] * 4, [True, False, True, False]) == 0.5
    assert auroc([0.3, 0.9], [True, True]) is None
    rng = random.Random(7)
    for _ in range(20):
        scores = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9]) for _ in range(12)]
        right = [rng.random() < 0.5 for _ in range(12)]
        good = [p for p, a in zip(scores, right, strict=True) if a]
        bad = [q for q, b in zip(scores, right, strict=True) if not b]
        pairs = [(p, q) for p in good for q in bad]
        if pairs:
            brute = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in pairs) / len(pairs)
            assert auroc(scores, right) == pytest.approx(brute)
    assert accuracy_above([0.9, 0.85, 0.2], [True, False, True], 0.8) == (0.5, 2)
    assert accuracy_above([0.1], [True], 0.8) == (None, 0)


def test_answers_are_read_as_the_benchmark_reads_them():
    assert extract_assertion("assert f(1) == [1, 2]\n[/ANSWER]", "f(1)") == "[1, 2]"
    assert extract_assertion("...[/THOUGHT]\n[ANSWER]\nassert f(1) == 'a'\n[/ANSWER]", "f(1)") == (
        "'a'"
    )
    assert extract_assertion("`3`", "f(1)") == "3"
    assert extract_assertion("assert f(1) == f(1)", "f(1)") == ""
    assert read_value("{'a': (1, 2)}") == (True, {"a": (1, 2)})
    assert read_value("__import__('os')") == (False, None)  # never evaluated
    assert same_value([2, 1], [2, 1]) and not same_value([2, 1], (2, 1))


def test_items_are_checked_and_sliced(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"code": "def f(): pass", "input": "", "output": "None"}) + "\n")
    (item,) = load_items(str(path))
    assert len(item.id) == 12 and item.call == "f()"
    path.write_text('{"code": 1}\n')
    with pytest.raises(ValueError, match="line 1"):
        load_items(str(path))


def test_a_definition_with_a_body_is_shown_as_code_in_both_styles():
    from lmulator.lm.emulator import Request, build_messages, defines_code

    code = "def f(s):\n    return s[::-1]"
    assert defines_code(code)
    stubs = ['def g(x):\n    """Doc."""', "def g(x):\n    ...", "def g(x):\n    pass",
             "def g(x):\n    raise NotImplementedError", "x = 1", "def g(:"]  # fmt: skip
    assert not any(defines_code(s) for s in stubs)
    assert defines_code("def g(x):\n    raise ValueError(x)")
    req = Request(kind="value", target="f('ab')", line=1, statement="f('ab')", definition=code)
    compact = build_messages(req, "compact")[-1]["content"]
    assert compact.startswith(f"```python\n{code}\n```") and compact.endswith(">>> f('ab')")
    full = build_messages(req, "full")[-1]["content"]
    assert "Definition (read it, do not run it)" in full and "value it returns" in full
    stub = Request(kind="value", target="g(1)", line=1, statement="g(1)", definition=stubs[0])
    assert "# def g(x): Doc." in build_messages(stub, "compact")[-1]["content"]


def test_an_answer_that_failed_to_run_is_not_journaled(lm, data, tmp_path):
    lm.rules()  # the endpoint answers nothing: HTTP 400
    journal = tmp_path / "j.jsonl"
    lines: list[str] = []
    run(str(data), limit=1, method="all", base_url=lm.base_url, journal=str(journal),
        out=lines.append)  # fmt: skip
    assert lines[0].startswith("emulate: 0.0% (0/1)")
    assert lines[1] == "confidence: none (the endpoint gave no log-probabilities)"
    assert lines[2].startswith("direct: 0.0% (0/1)")
    assert lines[4].startswith("3 answers failed to run (scored wrong, not journaled), the first:")
    assert journal.read_text() == ""
    lm.rules({"match": [], "content": "not json"})  # replies, though invalid ones
    run(str(data), limit=1, method="emulate", base_url=lm.base_url, journal=str(journal),
        out=lambda _: None)  # fmt: skip
    (kept,) = [json.loads(line) for line in journal.read_text().splitlines()]
    assert kept["prediction"].startswith("<error: ") and kept["calls"] == 2


def test_code_gets_worked_examples_of_code_and_a_stub_the_usual_ones():
    from lmulator.lm.emulator import COMPACT_FEW_SHOT, Request, build_messages

    code = "def f(s):\n    return s[::-1]"
    req = Request(kind="value", target="f('ab')", line=1, statement="f('ab')", definition=code)
    messages = build_messages(req, "compact")
    assert [m["content"] for m in messages[2:7:2]] == [
        '{"value": 17}', '{"value": "x9ja"}', '{"value": {"$py": "([2], 1)"}}']  # fmt: skip
    assert messages[1]["content"].startswith("```python\ndef f(n):\n    return n\n```")
    stub = Request(
        kind="value", target="g(1)", line=1, statement="g(1)", definition="def g(x): ..."
    )
    assert build_messages(stub, "compact")[2]["content"] == COMPACT_FEW_SHOT[0][1]
