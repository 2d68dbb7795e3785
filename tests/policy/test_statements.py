"""Ordinary notebook code keeps working under the restricted policy."""

import pytest

from lmulator.policy.policy import PolicyViolation

from .helpers import ok, refused, value


def test_augmented_assignment_on_names_attributes_and_items():
    assert value("d = {'a': 1}\nd['a'] += 2\nL = [1]\nL[0] *= 5\nd['a'], L[0]") == (3, 5)


def test_comprehensions_and_generators():
    assert value("[x * y for x in range(3) for y in range(2) if x]") == [0, 1, 0, 2]
    assert value("{k: v for k, v in zip('ab', (1, 2))}") == {"a": 1, "b": 2}
    assert value("def gen(n):\n    for i in range(n):\n        yield i * i\nsum(gen(4))") == 14
    assert value("next(i for i in range(10) if i > 6)") == 7


def test_unpacking():
    assert value("a, (b, *c) = 1, (2, 3, 4)\nfirst, *rest = 'xyz'\na, b, c, rest") == (
        1, 2, [3, 4], ["y", "z"],
    )  # fmt: skip
    assert value("def f(*args, **kw):\n    return args, kw\nf(*[1, 2], **{'k': 3})") == (
        (1, 2), {"k": 3},
    )  # fmt: skip


def test_with_and_try():
    ok(
        "class Ctx:\n"
        "    def __enter__(self):\n        return 'in'\n"
        "    def __exit__(self, *exc):\n        return False\n"
        "with Ctx() as v:\n    w = v\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    z = 'caught'\nelse:\n    z = 'no'\n"
        "finally:\n    f = 1\n"
        "assert (w, z, f) == ('in', 'caught', 1)"
    )


def test_lambdas_and_closures():
    assert value("add = lambda a, b=1: a + b\nadd(2), sorted([3, 1], key=lambda x: -x)") == (
        3, [3, 1],
    )  # fmt: skip


def test_match_statements():
    assert value(
        "def kind(p):\n"
        "    match p:\n"
        "        case (0, 0):\n            return 'origin'\n"
        "        case (x, 0):\n            return f'x={x}'\n"
        "        case {'k': v}:\n            return v\n"
        "        case _:\n            return 'other'\n"
        "[kind((0, 0)), kind((3, 0)), kind({'k': 'v'}), kind(1)]"
    ) == ["origin", "x=3", "v", "other"]


def test_walrus_and_conditionals():
    assert value("if (n := 5) > 3:\n    r = n\nelse:\n    r = 0\nr") == 5


def test_async_is_refused():
    assert isinstance(refused("async def f():\n    pass"), PolicyViolation)


@pytest.mark.parametrize(
    "source", ["x = 1\ndel x", "L = [1, 2]\ndel L[0]", "while False:\n    pass"]
)
def test_misc_statements(source):
    ok(source)
