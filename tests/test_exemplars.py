"""The shipped exemplars: each carries its answer in its task's form, the programs that need no
LM compute that answer, and a question that names no task gets the exemplars most like it."""

import json

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.exemplars import (
    example_tasks,
    load_exemplars,
    parse_exemplars,
    shipped_index,
    similar_examples,
)
from lmulator.forms import AnswerForm
from lmulator.reason import EXAMPLES, choose_examples, reason
from lmulator.testing import value_rule

#: The form each task's exemplar answers are read as (a rule over the answers, not a table).
KINDS = {
    "boolean_expressions": "true_false",
    "causal_judgement": "yes_no",
    "dyck_languages": "dyck",
    "formal_fallacies": "valid_invalid",
    "multistep_arithmetic_two": "integer",
    "navigate": "yes_no",
    "object_counting": "integer",
    "sports_understanding": "yes_no",
    "web_of_lies": "yes_no",
    "word_sorting": "sorted_words",
}


def test_every_exemplar_carries_an_answer_in_its_tasks_form():
    tasks = sorted({task for task, _ in _tasks_of()})
    assert len(tasks) == 27 and len(shipped_index().exemplars) == 83
    for task in tasks:
        exemplars = load_exemplars(task)
        form = AnswerForm.of(e.answer for e in exemplars)
        assert form.kind == KINDS.get(task, "letter"), task
        for e in exemplars:
            assert e.answer and form.fit(e.answer, e.question) == e.answer, (task, e.answer)
    assert AnswerForm.of(e.answer for e in load_exemplars("sports_understanding")).labels == (
        "yes",
        "no",
    )  # the task's own spelling


def _tasks_of():
    """(task, exemplar) for every shipped exemplar."""
    for task in example_tasks():
        for e in load_exemplars(task):
            yield task, e


def test_programs_that_need_no_lm_compute_their_exemplars_answer():
    """Run in plain Python (no LM): every program that calls no helper ends at its answer."""
    checked = set()
    for task, e in _tasks_of():
        session = Session(Config(mode="python"))
        run = session.run(e.program + "\nanswer\n")
        if isinstance(run.error, NameError):
            continue  # it asks a helper: the LM's part
        assert run.error is None, (task, e.question[:60], run.error)
        form = AnswerForm.of(x.answer for x in load_exemplars(task))
        assert form.fit(run.value, e.question) == e.answer, (task, e.question[:60], run.value)
        checked.add(task)
    # The algorithmic tasks, and those written so that Python carries the structure.
    for task in (
        "boolean_expressions",
        "dyck_languages",
        "multistep_arithmetic_two",
        "navigate",
        "word_sorting",
        "tracking_shuffled_objects_seven_objects",
        "logical_deduction_three_objects",
        "logical_deduction_five_objects",
        "logical_deduction_seven_objects",
    ):
        assert task in checked, task


def test_a_file_may_leave_out_the_answers():
    text = "### Question\nQ?\n### Program\nanswer = 1\n### Answer\n1\n\n### Question\nR?\n"
    text += "### Program\n```python\nanswer = 2\n```\n"
    first, second = parse_exemplars(text)
    assert (first.question, first.program, first.answer) == ("Q?", "answer = 1", "1")
    assert (second.question, second.program, second.answer) == ("R?", "answer = 2", "")


@pytest.mark.parametrize(
    ("question", "task"),
    [
        ("How many of these are fruits: apple, car, banana?", "object_counting"),
        ("What is the date tomorrow if today is 03/02/2021? Answer in MM/DD/YYYY.", "date"),
        ('Is the following sentence plausible? "Lionel Messi dunked the ball."', "sports"),
        ("Sort the following words alphabetically: List: pear apple fig", "word_sorting"),
    ],
)
def test_retrieval_finds_the_task_a_question_is_like(question, task):
    picked = similar_examples(question)
    assert len(picked) == 3
    wanted = {e.question for t, e in _tasks_of() if t.startswith(task)}
    assert {q for q, _ in picked} <= wanted


def test_a_question_like_no_exemplar_gets_the_generic_ones():
    assert similar_examples("Which city is the capital of France?") == []
    assert choose_examples("Which city is the capital of France?") == EXAMPLES
    given = [("Q?", "answer = 1")]
    assert choose_examples("How many fruits?", given) == given  # named exemplars win


def test_reason_without_examples_shows_the_closest_exemplars(lm, session):
    """The kernel's everyday question gets object counting's exemplars: Python counts, a
    helper judges."""
    question = "How many of these are fruits: apple, car, banana?"
    program = "items = ['apple', 'car', 'banana']\nanswer = sum(1 for w in items if is_fruit(w))"
    lm.rules(
        {"match": ["Question: How many of these are fruits"], "content": program},
        value_rule("is_fruit('apple')", True),
        value_rule("is_fruit('car')", False),
        value_rule("is_fruit('banana')", True),
    )
    result = reason(question, session())
    assert result.answer == 2
    prompt = json.dumps(lm.log()[0]["messages"])
    assert "is_fruit(item.split(" in prompt and "How many fruits do I have?" in prompt
    assert "is_vegetable" not in prompt  # not the generic examples
