"""The attack helper counts only the policy's own refusals: a payload that fails for a reason of
its own (a misspelt name, an attribute the real object does not have) fails the test."""

import pytest

from .attack import attack, refused_by_policy


@pytest.mark.parametrize(
    "source",
    [
        "x = kept.no_such_attribute",  # a plain AttributeError
        "x = no_such_name_anywhere + 1",  # a plain NameError (in python mode)
        "x = [][1]",  # an IndexError
        "import json\nx = json.loads('{')",  # an error of the library's own
    ],
)
def test_a_payload_failing_for_its_own_reason_is_not_a_refusal(source):
    with pytest.raises(AssertionError, match="not refused by the policy|ran:"):
        attack(source, modes=("python",))


def test_a_payload_that_runs_is_not_a_refusal():
    with pytest.raises(AssertionError, match="ran:"):
        attack("x = 1 + 1", modes=("python",))


def test_the_policy_refusals_count():
    for source in (
        "import os",
        "x = ().__class__.__base__",
        "import math\nmath.pi = 3",
        "open('x')",
    ):
        for error in attack(source):
            assert error is None or refused_by_policy(error)


def test_refusals_need_their_reason():
    assert not refused_by_policy(AttributeError("module 'random' has no attribute 'os'"))
    assert not refused_by_policy(NameError("name 'opn' is not defined", name="opn"))
    assert refused_by_policy(NameError("name 'open' is not defined", name="open"))
    assert not refused_by_policy(None)
