"""The BBH bench on a task file that holds none of the exemplar questions (held-out data, a
user's own file): every method still sees the task's exemplars and their answers."""

import json

from lmulator.bench.bbh import make_jobs
from lmulator.bench.bbh import run as run_bbh
from lmulator.exemplars import load_exemplars

QUESTION = (
    "If you follow these instructions, do you return to the starting point? "
    "Always face forward. Take 2 steps left. Take 2 steps right.\nOptions:\n- Yes\n- No"
)


def test_a_task_file_without_the_exemplar_questions_still_gets_the_exemplars(lm, tmp_path):
    (tmp_path / "navigate.json").write_text(
        json.dumps({"examples": [{"input": QUESTION, "target": "Yes"}]})
    )
    shipped = load_exemplars("navigate")
    assert all(e.question.strip() != QUESTION for e in shipped)
    lm.rules(
        {"match": ["Answer the question with the answer only", "Take 2 steps"], "content": "Yes"},
        {"match": ["Think step by step", "Take 2 steps"], "content": "Back. So the answer is Yes."},
        {"match": ["Question: " + QUESTION], "content": "```python\nanswer = True\n```"},
    )
    accuracy = run_bbh(str(tmp_path), ["navigate"], method="all", base_url=lm.base_url)
    assert accuracy == {"coc": 1.0, "cot": 1.0, "direct": 1.0}
    log = lm.log()
    assert len(log) == 3
    coc, cot, direct = (
        next(r["messages"] for r in log if marker in json.dumps(r["messages"]))
        for marker in ("You write short Python", "Think step by step", "with the answer only")
    )
    # Chain of Code: the three exemplar questions, each with its program.
    asked = [m["content"] for m in coc if m["role"] == "user"]
    assert asked == [f"Question: {e.question}" for e in shipped] + [f"Question: {QUESTION}"]
    programs = [m["content"] for m in coc if m["role"] == "assistant"]
    assert programs == [f"```python\n{e.program}\n```" for e in shipped]
    # Direct: the exemplar questions with the answers the exemplar file carries.
    assert [m["content"] for m in direct if m["role"] == "assistant"] == [e.answer for e in shipped]
    # Chain of thought: the form of those answers.
    assert "This task's answers look like: " in cot[-1]["content"]
    assert "Yes" in cot[-1]["content"].split("look like: ")[1]


def test_an_exemplar_folder_replaces_the_shipped_ones(tmp_path):
    (tmp_path / "navigate.json").write_text(
        json.dumps({"examples": [{"input": QUESTION, "target": "Yes"}]})
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "navigate.txt").write_text(
        "### Question\nTake 1 step. Back?\n### Program\nanswer = 'No'\n### Answer\nNo\n"
    )
    [job] = make_jobs(str(tmp_path), ["navigate"], ["coc"], 0, None, None, None, 60.0,
                      exemplars=str(mine))  # fmt: skip
    assert job.examples == (("Take 1 step. Back?", "answer = 'No'"),) and job.answers == ("No",)
    assert job.form.kind == "yes_no"
    [job] = make_jobs(str(tmp_path), ["navigate"], ["coc"], 0, None, None, None, 60.0)
    assert len(job.examples) == 3  # the shipped ones where the folder has none


def test_a_task_without_exemplars_takes_its_form_from_the_task_file(tmp_path):
    items = [{"input": "Is 4 even?", "target": "yes"}, {"input": "Is 3 even?", "target": "no"}]
    (tmp_path / "parity.json").write_text(json.dumps({"examples": items}))
    jobs = make_jobs(str(tmp_path), ["parity"], ["coc"], 0, None, None, None, 60.0)
    assert [j.examples for j in jobs] == [(), ()]
    assert jobs[0].form.kind == "yes_no" and jobs[0].form.labels == ("yes", "no")
