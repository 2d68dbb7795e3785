"""``except*`` (CVE-2025-22153): refused before anything runs."""

import pytest

from lmulator.policy.policy import PolicyViolation

from .attack import attack

PAYLOADS = [
    "try:\n    pass\nexcept* ValueError:\n    pass",
    "try:\n    raise ExceptionGroup('g', [ValueError()])\nexcept* ValueError as eg:\n    x = eg",
    "def f():\n    try:\n        pass\n    except* (TypeError, ValueError):\n        pass",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_except_star_is_refused_at_compile_time(source):
    for error in attack(source):
        assert isinstance(error, PolicyViolation)


def test_exception_groups_without_except_star_still_work():
    from ..policy.helpers import value

    source = (
        "try:\n    raise ExceptionGroup('g', [ValueError('v')])\n"
        "except ExceptionGroup as eg:\n    n = len(eg.exceptions)\nn"
    )
    assert value(source) == 1
