"""Binding a guard or hook name, e.g. as a positional-only parameter (GHSA-ffg3-p8fm-mjx2)."""

import pytest

from lmulator.policy.policy import PolicyViolation

from .attack import attack

GUARDS = ("_getattr_", "_write_", "_getiter_", "_lm_rt_")

SHAPES = [
    "def f({g}, /):\n    return {g}",
    "def f(*, {g}):\n    pass",
    "def f(*{g}):\n    pass",
    "def f(**{g}):\n    pass",
    "f = lambda {g}, /: 1",
    "{g} = None",
    "for {g} in []:\n    pass",
    "xs = [{g} for {g} in range(2)]",
    "import math as {g}",
    "from math import pi as {g}",
    "try:\n    pass\nexcept Exception as {g}:\n    pass",
    "class C:\n    {g} = 1",
    "match 1:\n    case {g}:\n        pass",
    "with open('x') as {g}:\n    pass",
    "global {g}",
    "({g} := 1)",
]

PAYLOADS = [shape.format(g=g) for g in GUARDS for shape in SHAPES]


@pytest.mark.parametrize("source", PAYLOADS)
def test_guard_names_cannot_be_bound(source):
    for error in attack(source):
        assert isinstance(error, PolicyViolation)
