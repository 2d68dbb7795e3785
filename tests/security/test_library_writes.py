"""Library functions that write into objects on the program's behalf (issue #12, family 1):
they write only into what the program created, never into shared classes or module globals."""

import collections.abc
import dataclasses
import numbers
import string

import pytest

from ..policy.helpers import value
from .attack import attack

PAYLOADS = [
    # typing aliases forward attribute writes to the real class behind them
    "import typing\ntyping.Mapping.get = len",
    "import typing\nsetattr(typing.Mapping, 'get', len)",
    "import typing\nalias = typing.Mapping[str, int]\nalias.get = len",
    "import typing\ndel typing.Sequence.index",
    # decorators that set attributes on the class or function they are given
    "import functools, collections.abc\nfunctools.total_ordering(collections.abc.Sized)",
    "import functools, string\nfunctools.total_ordering(string.Template)",
    "import dataclasses, string\ndataclasses.dataclass(string.Template)",
    "import dataclasses, string\ndataclasses.dataclass(frozen=True)(string.Template)",
    "import typing, string\ntyping.no_type_check(string.Template)",
    "import typing, json\ntyping.final(json.dumps)",
    "import functools, collections.abc\ndef f():\n    pass\n"
    "functools.update_wrapper(collections.abc.Mapping, f)",
    "import functools, string\ndef f():\n    pass\nfunctools.wraps(f)(string.capwords)",
    # objects an allowed module holds as globals are shared with the engine
    "import dataclasses\ndataclasses.MISSING.seen = True",
    "import dataclasses\nsetattr(dataclasses.KW_ONLY, 'seen', True)",
    # copy applying a __reduce__ state to an object the program did not create
    "import copy, collections.abc\nclass R:\n    def __reduce_ex__(self, proto):\n"
    "        return (lambda: collections.abc.Mapping, (), (None, {'get': len}))\ncopy.copy(R())",
    "import copy, dataclasses\nclass R:\n    def __reduce__(self):\n"
    "        return (lambda: dataclasses.MISSING, (), {'seen': 1})\ncopy.deepcopy({'k': [R()]})",
    "import dataclasses, collections.abc\nclass R:\n    def __reduce_ex__(self, proto):\n"
    "        return (lambda: collections.abc.Sized, (), (None, {'seen': 1}))\n"
    "@dataclasses.dataclass\nclass D:\n    r: object\ndataclasses.asdict(D(R()))",
    # registering a virtual subclass changes isinstance() for the whole process
    "import collections.abc\ncollections.abc.Mapping.register(int)",
    "import collections.abc\nr = getattr(collections.abc.Sized, 'register')\nr(int)",
    "import numbers\nnumbers.Integral.register(str)",
    # make_dataclass: the namespace is a class body, no more
    "import dataclasses\ndataclasses.make_dataclass('C', ['x'], namespace={'__module__': 'os'})",
    "import dataclasses\ndataclasses.make_dataclass('C', ['x'], namespace={'__builtins__': {}})",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_library_writes_into_foreign_objects_are_refused(source):
    attack(source)
    assert not hasattr(collections.abc.Mapping, "seen")
    assert collections.abc.Mapping.get is not len
    assert not hasattr(collections.abc.Sized, "seen")
    assert not hasattr(string.Template, "seen") and "__lt__" not in vars(string.Template)
    assert not hasattr(dataclasses.MISSING, "seen")
    assert not hasattr(string.Template, "__dataclass_fields__")
    assert not isinstance(1, collections.abc.Mapping) and not isinstance("s", numbers.Integral)


def test_the_same_functions_work_on_the_programs_own_objects():
    assert value(
        "import functools\n@functools.total_ordering\nclass V:\n    def __init__(self, v):\n"
        "        self.v = v\n    def __eq__(self, o):\n        return self.v == o.v\n"
        "    def __lt__(self, o):\n        return self.v < o.v\n(V(2) >= V(1), V(1) > V(2))"
    ) == (True, False)
    assert value(
        "import dataclasses\n@dataclasses.dataclass(frozen=True, order=True)\nclass P:\n"
        "    x: int\n    _y: int = 2\np = P(1)\n(p < P(2), p._y, dataclasses.astuple(p))"
    ) == (True, 2, (1, 2))
    assert value(
        "import dataclasses\nC = dataclasses.make_dataclass('C', ['x', ('y', int, 5)],\n"
        "    namespace={'double': lambda self: self.x * 2})\nc = C(4)\n(c.double(), c.y, repr(c))"
    ) == (8, 5, "C(x=4, y=5)")
    assert value(
        "import copy\nclass Node:\n    def __init__(self, kids):\n        self.kids = kids\n"
        "    def __reduce__(self):\n        return (Node, (self.kids,), {'tag': 1})\n"
        "a = Node([Node([])])\nb = copy.deepcopy(a)\n"
        "(b.kids[0] is a.kids[0], b.tag, copy.copy(a).kids is a.kids)"
    ) == (False, 1, True)
    assert (
        value(
            "import collections.abc\nclass Shape(collections.abc.Sized):\n    pass\nclass Square:\n    pass\n"
            "Shape.register(Square)\nisinstance(Square(), Shape)"
        )
        is True
    )  # the program's own ABC may register what it likes
    assert value(
        "import types, typing\nns = types.SimpleNamespace(a=1)\nns.b = 2\n"
        "@typing.final\ndef f():\n    return 1\n(ns.a + ns.b, f.__final__)"
    ) == (3, True)


def test_exit_gets_a_traceback_of_the_programs_own_frames():
    from lmulator.config import Config
    from lmulator.engine.session import Session

    session = Session(Config(mode="python", lm="off", cache="off"))
    result = session.run(
        "class Keep:\n    def __enter__(self):\n        return self\n"
        "    def __exit__(self, kind, exc, tb):\n        self.tb = tb\n        return True\n"
        "k = Keep()\nwith k:\n    import json\n    json.loads('{')\n(k.tb.tb_lineno, k.tb is not None)"
    )
    assert result.error is None and result.value == (10, True)
    tb, frames = session.namespace["k"].tb, 0
    while tb is not None:  # json's frames and the engine's are cut away
        assert tb.tb_frame.f_globals is session.namespace
        tb, frames = tb.tb_next, frames + 1
    assert frames == 1
