"""Idioms of ordinary programs that the restricted policy runs unchanged."""

import pytest

from .helpers import value

IDIOMS = {
    "future annotations": (
        "from __future__ import annotations\nclass Node:\n    def me(self) -> Node:\n"
        "        return self\nNode().me().__class__.__name__",
        "Node",
    ),
    "private helpers and attributes": (
        "def _fib(n):\n    return n if n < 2 else _fib(n - 1) + _fib(n - 2)\n"
        "class Stack:\n    def __init__(self):\n        self._items = []\n"
        "    def push(self, x):\n        self._items.append(x)\n        return len(self._items)\n"
        "_s = Stack()\n_s.push(_fib(10))",
        1,
    ),
    "name mangling": (
        "class Matrix:\n    def __init__(self):\n        self.__rows = [[1, 2]]\n"
        "    def rows(self):\n        return self.__rows\nMatrix().rows()",
        [[1, 2]],
    ),
    "slots": (
        "class P:\n    __slots__ = ('x', 'y')\n    def __init__(self):\n        self.x, self.y = 1, 2\n"
        "p = P()\np.x + p.y",
        3,
    ),
    "special-method aliases": (
        "class V:\n    def __init__(self, n):\n        self.n = n\n    def __add__(self, o):\n"
        "        return V(self.n + (o.n if isinstance(o, V) else o))\n    __radd__ = __add__\n"
        "sum([V(1), V(2)], 0).n",
        3,
    ),
    "main guard": ("ran = False\nif __name__ == '__main__':\n    ran = True\nran", True),
    "class name in repr": (
        "class Q:\n    def __repr__(self):\n        return f'{self.__class__.__name__}()'\nrepr(Q())",
        "Q()",
    ),
    "the program's own __dict__": (
        "class C:\n    def __init__(self):\n        self.a = 1\nsorted(C().__dict__)",
        ["a"],
    ),
    "super and a private helper": (
        "class B:\n    def _h(self):\n        return 5\nclass C(B):\n    def g(self):\n"
        "        return super()._h()\nC().g()",
        5,
    ),
    "secrets": ("import secrets\nlen(secrets.token_hex(4))", 8),
    "vars of the program's own object": (
        "class C:\n    def __init__(self):\n        self.a = 1\nvars(C())",
        {"a": 1},
    ),
    "sys facts and a deeper recursion limit": (
        "import sys\nsys.setrecursionlimit(5000)\n"
        "(sys.getrecursionlimit() >= 5000, sys.float_info.max > 1e300, sys.getsizeof(0) > 0)",
        (True, True, True),
    ),
    "annotations are objects without the future import": (
        "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\n"
        "dataclasses.fields(P)[0].type is int",
        True,
    ),
    "type as a class: isinstance, issubclass, its name": (
        "def kind(x):\n    return 'class' if isinstance(x, type) else type(x).__name__\n"
        "(kind(int), kind(3), issubclass(bool, int), type.__name__)",
        ("class", "int", True, "type"),
    ),
}


@pytest.mark.parametrize("name", list(IDIOMS))
def test_ordinary_idioms_run_unchanged(name):
    source, expected = IDIOMS[name]
    assert value(source) == expected


def test_an_exception_whose_str_fails_is_the_programs_error():
    from .helpers import run

    result = run(
        "class E(Exception):\n    def __str__(self):\n        raise ValueError('no')\nraise E()"
    )
    assert type(result.error).__name__ == "E"
