"""%%coc without --examples: the LM is shown the shipped task most like the question."""

import json

import pytest

from lmulator.testing import value_rule

from .helpers import Kernel


@pytest.fixture(scope="module")
def kernel(_server_process):
    kernel = Kernel(env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"})
    yield kernel
    kernel.close()


def test_the_everyday_question_gets_object_countings_exemplars(kernel, lm):
    program = "items = ['apple', 'car', 'banana']\nanswer = sum(1 for w in items if is_fruit(w))"
    lm.rules(
        {"match": ["Question: How many of these are fruits"], "content": program},
        value_rule("is_fruit('apple')", True),
        value_rule("is_fruit('car')", False),
        value_rule("is_fruit('banana')", True),
    )
    ex = kernel.run("%%coc\nHow many of these are fruits: apple, car, banana?")
    assert ex.status == "ok", ex.of("error")
    assert ex.result.startswith("2")
    [asked] = [r for r in lm.log() if "You write short Python" in json.dumps(r["messages"])]
    shown = json.dumps(asked["messages"])
    assert "How many fruits do I have?" in shown and "is_fruit(item.split(" in shown
    assert "is_vegetable" not in shown  # not the two generic examples
