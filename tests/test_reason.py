"""Chain of Code end to end, and the BBH harness, against the scripted LM."""

import json

from lmulator.bench.bbh import extract_final, normalize
from lmulator.bench.bbh import run as run_bbh
from lmulator.reason import PROGRAM_NAME, extract_program, reason
from lmulator.testing import value_rule

PROGRAM = "items = ['apple', 'rock', 'pear']\nanswer = sum(1 for i in items if is_fruit(i))"
PROGRAM_REPLY = f"Here you go:\n```python\n{PROGRAM}\n```\nDone."


def fruit_rules():
    return [
        {"match": ["Question: How many fruits"], "content": PROGRAM_REPLY},
        value_rule("is_fruit('apple')", True),
        value_rule("is_fruit('rock')", False),
        value_rule("is_fruit('pear')", True),
    ]


def test_reason_writes_a_program_and_runs_it(lm, session):
    lm.rules(*fruit_rules())
    s = session()
    result = reason("How many fruits are in: apple, rock, pear?", s)
    assert result.program == PROGRAM + "\n"
    assert result.answer == 2
    assert s.namespace[PROGRAM_NAME] == result.program
    first = lm.log()[0]
    assert "response_format" not in first  # a program is text, not a schema-bound value
    assert first["messages"][-1]["content"].startswith("Question: How many fruits")
    assert len(result.run.emulated) == 3


def test_extract_program():
    assert extract_program("```py\nx = 1\n```") == "x = 1\n"
    assert extract_program("answer = 3") == "answer = 3\n"


def test_normalisation():
    assert normalize("(B)") == normalize("B") == "(b)"
    assert normalize(" 7. ") == normalize(7) == normalize("7.0") == "7"
    assert normalize("True") == "true"
    assert extract_final("Two apples plus one. So the answer is 3.") == "3"


def test_bbh_harness_on_a_tiny_task(lm, tmp_path, capsys):
    task = {
        "examples": [
            {"input": "How many fruits are in: apple, rock, pear?", "target": "2"},
            {"input": "How many fruits are in: a stone?", "target": "0"},
        ]
    }
    (tmp_path / "fruit_count.json").write_text(json.dumps(task))
    lm.rules(
        *fruit_rules(),
        {
            "match": ["Question: How many fruits are in: a stone"],
            "content": "```python\nanswer = 1\n```",
        },
    )
    accuracy = run_bbh(
        str(tmp_path), ["fruit_count"], method="coc", base_url=lm.base_url, model="m"
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert accuracy == 0.5
    assert out[0].startswith("fruit_count: 1/2 = 50.0%  (LM calls 5,")  # 2 programs + 3 values
    assert len(lm.log()) == 5
    assert out[-1] == "overall accuracy: 50.0% (2 examples)"


def test_bbh_direct_and_cot(lm, tmp_path, capsys):
    (tmp_path / "t.json").write_text(json.dumps({"examples": [{"input": "2+2?", "target": "4"}]}))
    lm.rules(
        {"match": ["Answer the question with the answer only"], "content": "4"},
        {"match": ["Think step by step"], "content": "Two and two. So the answer is 4."},
    )
    assert run_bbh(str(tmp_path), ["t"], method="direct", base_url=lm.base_url) == 1.0
    assert run_bbh(str(tmp_path), ["t"], method="cot", base_url=lm.base_url) == 1.0
