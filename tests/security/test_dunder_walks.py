"""Walks to ``object.__subclasses__()`` in every spelling the compiler lets through."""

import pytest

from lmulator.policy.policy import PolicyViolation

from .attack import attack

COMPILE_TIME = [
    "s = ().__class__.__base__.__subclasses__()",
    "s = object.__subclasses__()",
    "s = type.__subclasses__(object)",
    "g = (lambda: 1).__globals__",
    "s = print.__self__",
    "b = __builtins__",
    "i = __import__",
    "m = [].__class__.__mro__[-1]",
    "def f():\n    pass\nc = f.__code__",
    "s = (1).__reduce_ex__(2)",
]

RUN_TIME = [
    "x = 1\nd = x.__dict__",
    "import math\nd = math.__dict__",
    "class C:\n    pass\ns = C.__class__",
    "s = type(int)('X', (), {})",
    "import collections.abc\ns = type(collections.abc.Sized)('X', (), {})",
    "s = (1).__class__.__class__",
    "s = getattr((), '__base__')",
    "s = getattr((), '_' + '_base__')",
    "s = getattr(getattr(object, '__subcl' + 'asses__'), '__call__')()",
    "s = getattr(type(()), '__base__')",
    "s = getattr(int, 'mro')()[-1]\nt = getattr(s, '__subclasses__')()",
    "s = vars(object)",
    "s = type(1).__name__ and getattr(type(1), '__dict__')",
    "s = type('X', (object,), {})",
    "import operator\ns = operator.attrgetter('__base__')(1)",
    "import operator\ns = operator.attrgetter('real.__self__')(1)",
    "import operator\ns = operator.methodcaller('__reduce__')(1)",
    "import functools\ns = functools.reduce(getattr, ['__base__', '__base__'], ())",
    "s = list(map(getattr, [()], ['__base__']))",
    "s = [getattr(x, n) for x, n in [((), '__base__')]]",
    "s = max([()], key=lambda x: getattr(x, '__base__'))",
    "s = hasattr((), '__base__') or getattr(1, '__ba' + 'se__')",
    "s = setattr(1, '__class__', str)",
    "s = delattr(1, '__class__')",
]


@pytest.mark.parametrize("source", COMPILE_TIME)
def test_dunder_walks_are_refused_at_compile_time(source):
    for error in attack(source):
        assert isinstance(error, PolicyViolation)


@pytest.mark.parametrize("source", RUN_TIME)
def test_computed_dunder_walks_are_refused_at_run_time(source):
    attack(source)


PAYLOADS = COMPILE_TIME + RUN_TIME
