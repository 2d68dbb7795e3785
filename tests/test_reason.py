"""Chain of Code end to end, and the BBH harness, against the scripted LM."""

import ast
import json

import pytest

from lmulator.bench.bbh import extract_final, normalize
from lmulator.bench.bbh import run as run_bbh
from lmulator.reason import (
    PROGRAM_NAME,
    example_tasks,
    extract_program,
    load_examples,
    parse_examples,
    reason,
)
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
    assert normalize("True") == "true"  # a boolean is Yes/No only where the targets are
    assert normalize(True, yes_no=True) == normalize("Yes", yes_no=True) == "yes"
    assert normalize("valid", yes_no=True) == "valid"  # nothing else is loosened
    assert extract_final("Two apples plus one. So the answer is 3.") == "3"
    # the last answer said, also where one line only announces it
    assert extract_final("The answer is\n\nSo the answer is (D)") == "(D)"
    assert extract_final("the answer is (A).\nNo, wait: the answer is (B).") == "(B)"
    assert extract_final("I think (C)\nfinally (D)") == "finally (D)"


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
    assert accuracy == {"coc": 0.5}
    assert out[0] == "fruit_count: coc 1/2"
    assert out[1].startswith("coc: 50.0% (1/2); LM calls 5;")  # 2 programs + 3 values
    assert len(lm.log()) == 5
    assert out[-1] == "overall accuracy: 50.0% (2 examples)"


def test_bbh_direct_and_cot(lm, tmp_path, capsys):
    (tmp_path / "t.json").write_text(json.dumps({"examples": [{"input": "2+2?", "target": "4"}]}))
    lm.rules(
        {"match": ["Answer the question with the answer only"], "content": "4"},
        {"match": ["Think step by step"], "content": "Two and two. So the answer is 4."},
    )
    assert run_bbh(str(tmp_path), ["t"], method="direct", base_url=lm.base_url) == {"direct": 1.0}
    assert run_bbh(str(tmp_path), ["t"], method="cot", base_url=lm.base_url) == {"cot": 1.0}


def test_each_task_has_at_least_three_exemplars_that_parse():
    tasks = example_tasks()
    assert len(tasks) == 27
    for task in tasks:
        pairs = load_examples(task)
        assert len(pairs) >= 3, task
        for _, program in pairs:
            ast.parse(program)
            assert "answer =" in program, task


def test_exemplars_go_into_the_prompt_and_are_never_scored(lm, tmp_path, capsys):
    """A task with shipped exemplars: the methods see them; their questions are never scored."""
    shipped = load_examples("navigate")
    items = [{"input": q, "target": "No"} for q, _ in shipped]
    question = "If you follow these instructions, do you return to the starting point? Take 1 step."
    items.append({"input": question, "target": "No"})
    (tmp_path / "navigate.json").write_text(json.dumps({"examples": items}))
    lm.rules(
        {"match": ["Answer the question with the answer only", question], "content": "No"},
        {"match": ["Think step by step", question], "content": "One step. So the answer is No."},
        {"match": ["Question: " + question], "content": "```python\nanswer = False\n```"},
    )
    accuracy = run_bbh(str(tmp_path), ["navigate"], method="all", base_url=lm.base_url)
    assert accuracy == {"coc": 1.0, "cot": 1.0, "direct": 1.0}  # False reads as No here
    assert len(lm.log()) == 3  # one question per method: the exemplars were not scored
    for request in lm.log():
        text = json.dumps(request["messages"])
        if "Think step by step" in text:  # chain of thought is told the answers' form
            assert "This task's answers look like: Yes, No." in text and "Take 5 steps" not in text
        else:  # coc and direct see the exemplar questions
            assert "Turn left. Take 5 steps. Turn around. Turn right." in text
    coc = next(r for r in lm.log() if "You write short Python" in json.dumps(r["messages"]))
    assert "x, y, dx, dy = 0, 0, 0, 1" in json.dumps(coc["messages"])  # its program
    out = capsys.readouterr().out
    assert "navigate: coc 1/1, cot 1/1, direct 1/1" in out


def test_jobs_run_examples_at_once_with_the_same_figures(lm, tmp_path, capsys):
    items = [{"input": f"What is {n} + 1?", "target": str(n + 1)} for n in range(6)]
    (tmp_path / "add.json").write_text(json.dumps({"examples": items}))
    lm.rules(
        *[
            {
                "match": [f"Question: What is {n} + 1?"],
                "content": f"```python\nanswer = {n} + 1\n```",
            }
            for n in range(6)
        ]
    )
    accuracy = run_bbh(str(tmp_path), ["add"], method="coc", base_url=lm.base_url, jobs=3)
    assert accuracy == {"coc": 1.0}
    assert "(jobs: 3)" in capsys.readouterr().out
    assert len(lm.log()) == 6


def test_a_journal_keeps_each_scored_example_and_a_second_run_asks_only_the_rest(
    lm, tmp_path, capsys
):
    items = [{"input": f"What is {n} + 1?", "target": str(n + 1)} for n in range(3)]
    (tmp_path / "add.json").write_text(json.dumps({"examples": items}))
    lm.rules(
        *[
            {"match": [f"Question: What is {n} + 1?"], "content": f"```python\nanswer = {n}+1\n```"}
            for n in range(3)
        ]
    )
    journal = tmp_path / "journal.jsonl"
    run_bbh(str(tmp_path), ["add"], limit=2, base_url=lm.base_url, journal=str(journal))
    assert len(journal.read_text().splitlines()) == 2 and len(lm.log()) == 2
    accuracy = run_bbh(str(tmp_path), ["add"], base_url=lm.base_url, journal=str(journal))
    assert accuracy == {"coc": 1.0}
    assert len(lm.log()) == 3  # only the third question was asked
    out = capsys.readouterr().out
    assert "2 of 3 examples already scored" in out and "add: coc 3/3" in out
    journal.write_text(journal.read_text() + "{not json\n")
    with pytest.raises(ValueError, match="line 4: not a scored example"):
        run_bbh(str(tmp_path), ["add"], base_url=lm.base_url, journal=str(journal))


def test_bad_exemplar_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("### Question\nno program here\n")
    with pytest.raises(ValueError, match="needs a question and a program"):
        load_examples(str(bad))
    with pytest.raises(ValueError, match="neither a task"):
        load_examples("no_such_task")
    assert parse_examples("### Question\nQ?\n### Program\n```python\nanswer = 1\n```\n") == [
        ("Q?", "answer = 1")
    ]


def test_jobs_take_one_task_at_a_time_each_example_with_every_method(tmp_path):
    from lmulator.bench.bbh import make_jobs

    for task in ("alpha", "beta"):
        items = [{"input": f"{task} question {n}?", "target": "1"} for n in range(2)]
        (tmp_path / f"{task}.json").write_text(json.dumps({"examples": items}))
    jobs = make_jobs(str(tmp_path), ["alpha", "beta"], ["coc", "cot"], 0, None, None, None, 60.0)
    # a task's exemplar prefix stays in the embedded server's kept states for all its examples
    assert [(j.task, j.input[-2], j.method) for j in jobs] == [
        ("alpha", "0", "coc"), ("alpha", "0", "cot"), ("alpha", "1", "coc"), ("alpha", "1", "cot"),
        ("beta", "0", "coc"), ("beta", "0", "cot"), ("beta", "1", "coc"), ("beta", "1", "cot"),
    ]  # fmt: skip
