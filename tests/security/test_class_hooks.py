"""Hooks through which library code trusts what a program's class says: special names a class
may not hold, metaclasses, descriptor methods aimed at foreign objects, renamed dataclass fields,
foreign classes registered on a program's ABC, and the functional ``Enum`` API (an outside attack
on 2026-12-03 ran a shell command through each of these, in a process without the OS box)."""

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from tests.policy.helpers import ok, run

from .attack import attack


def cell_frames_only(tb, namespace):
    """Whether ``tb`` has entries, and all of them run the cell's own code."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_globals is namespace)
        tb = tb.tb_next
    return bool(frames) and all(frames)


TRACEBACK = "try:\n    raise E()\nexcept E as e:\n    ex = e\n"

PAYLOADS = {
    # A class holds a refused special name, however its body binds it.
    "hook def": "class A:\n    def __instancecheck__(self, o):\n        return True",
    "hook loop": "class A:\n    for __subclasscheck__ in [len]:\n        pass",
    "hook walrus": "class A:\n    x = (__dataclass_params__ := len)",
    "hook default": "class A:\n    def f(self, a=(__wrapped__ := len)):\n        pass",
    "hook import": "class A:\n    from math import floor as __signature__",
    # A program's __reduce__ recipe: its state obeys the program's own write rules.
    "reduce state dunder": "import copy\nclass R:\n    def __reduce__(self):\n"
    "        return (R, (), (None, {'__class__': list}))\ncopy.copy(R())",
    "reduce function defaults": "import copy\ndef f(a=0):\n    return a\nclass R:\n"
    "    def __reduce__(self):\n        return (lambda: f, (), (None, {'__defaults__': (1,)}))\n"
    "copy.copy(R())",
    "reduce foreign object": "import copy, types\nclass R:\n    def __reduce__(self):\n"
    "        return (types.SimpleNamespace, (), {'a': 1})\ncopy.copy(R())",
    "stream stand-in": "import sys\nw = type(sys.stdout)('__stderr__')",
    "fields table": "import dataclasses\nclass E(Exception):\n"
    "    __dataclass_fields__ = {'x': dataclasses.field()}",
    "subclasshook": "import collections.abc\nclass X(collections.abc.Hashable):\n"
    "    @classmethod\n    def __subclasshook__(cls, C):\n        return True",
    "del": "class A:\n    def __del__(self):\n        pass",
    "tuple target": "class A:\n    __subclasshook__, y = len, 1",
    # A metaclass: its __eq__/__hash__ would answer inside the guards' caches of types.
    "metaclass of enum": "import enum\nclass M(enum.EnumType):\n    def __eq__(cls, other):\n"
    "        return True\n    def __hash__(cls):\n        return 1",
    # A library descriptor's __get__ aimed at a foreign object writes its __dict__.
    "cached_property get": "import functools, urllib\nclass A:\n"
    "    _gate = functools.cached_property(lambda self: None)\n"
    "gate = vars(A)['_gate'].__get__(urllib.parse, None)",
    "property set": "p = property(lambda s: 1, lambda s, v: None)\np.__set__(kept, 1)",
    # A dataclass field renamed after the fact: replace() and pprint read it with getattr.
    "field renamed": "import dataclasses\nf = dataclasses.field()\nf.name = '__traceback__'",
    "fields() renamed": "import dataclasses\n@dataclasses.dataclass\nclass X:\n    x: int = 0\n"
    "dataclasses.fields(X)[0].name = '__traceback__'",
    "field setattr": "import dataclasses\n@dataclasses.dataclass\nclass X:\n    x: int = 0\n"
    "setattr(dataclasses.fields(X)[0], 'name', '__traceback__')",
    "make_dataclass table": "import dataclasses\n"
    "X = dataclasses.make_dataclass('X', ['a'], namespace={'__dataclass_fields__': {}})",
    # A foreign class registered on the program's ABC passes isinstance, and a class pattern
    # then reads its objects' attributes by the names __match_args__ gives.
    "register foreign": "import collections, collections.abc\n"
    "class T(collections.namedtuple('S', ['tb_frame']), collections.abc.Hashable):\n    pass\n"
    "T.register(type(kept))",
    "register decorator": "import collections.abc\nclass T(collections.abc.Sized):\n"
    "    def __len__(self):\n        return 0\nT.register(int)",
    # The functional Enum API puts a special "member" into the class as a plain attribute.
    "enum fields": "import enum\nX = enum.Enum('X', [('__dataclass_fields__', 1), ('a', 2)])",
    "enum reduce": "import enum\nX = enum.Enum('X', {'__reduce_ex__': len, 'a': 2})",
    "enum match args": "import enum\nX = enum.Enum('X', '__match_args__ a')",
    # A second outside pass (2026-12-03), on the rules above.
    "super through a library class": "import string, json\nf = string.Formatter()\n"
    "g = super(string.Formatter, f).get_field",
    "singledispatch on an instance": "import functools\n@functools.singledispatch\n"
    "def d(x):\n    return 0\nclass A:\n    x: \"type('Z', (), {'m': __import__('os')})\"\n"
    "d.register(A())",
    "make_dataclass metaclass": "import dataclasses, enum\n"
    "M = dataclasses.make_dataclass('M', [], bases=(enum.EnumType,), init=False, eq=False)",
    "make_dataclass module": "import dataclasses\n"
    "M = dataclasses.make_dataclass('M', ['a'], module='lmulator.policy.guards')",
    "module written": "class A:\n    pass\nA.__module__ = 'elsewhere'",
    "module in the body": "class A:\n    __module__ = 'elsewhere'",
    "reduce class swap": "import copy, urllib\nL = type(urllib.parse)\nclass B:\n    pass\n"
    "class R:\n    def __reduce__(self):\n"
    "        return (B, (), (None, {'_name': 'x', '__class__': L}))\ncopy.copy(R())",
    "instance field table": "import dataclasses\n@dataclasses.dataclass\nclass W:\n    x: int = 0\n"
    "class Z:\n    __traceback__: int = 0\n"
    "try:\n    dataclasses.dataclass(Z)\nexcept Exception:\n    pass\n"
    "w = W()\nvars(w)['__dataclass_fields__'] = {'__traceback__': dataclasses.fields(W)[0]}\n"
    "dataclasses.replace(w)",
    "re-initialise a shared object": "import decimal\ndecimal.DefaultContext.__init__(prec=3)",
    "re-initialise through the class": "import decimal\n"
    "decimal.Context.__init__(decimal.DefaultContext, prec=3)",
    "re-initialise a library property": "import fractions\n"
    "fractions.Fraction.numerator.__init__(lambda self: 99)",
    "lazy module dict": "import urllib\nurllib.parse.__getattr__('__dict__')",
    # A third outside pass (2026-12-03).
    "match args from a loop": "import typing, json\n@typing.runtime_checkable\n"
    "class G(typing.Protocol):\n    for __match_args__ in [('__globals__',)]:\n        pass\n"
    "G.__name__ = 'Protocol'\nmatch json.dumps:\n    case G(g):\n        pass",
    "match args from make_dataclass": "import dataclasses, typing\n"
    "G = dataclasses.make_dataclass('G', [], bases=(typing.Protocol,), "
    "namespace={'__match_args__': ('__globals__',)}, init=False, eq=False)\n"
    "match len:\n    case G(g):\n        pass",
    "match args from field names": "import dataclasses\n@dataclasses.dataclass(init=False)\n"
    "class S(str):\n    format: int\nmatch S('{0}'):\n    case S(f):\n        pass",
    "init through a program subclass": "import decimal\nclass P(decimal.Context):\n    pass\n"
    "P.__init__(decimal.DefaultContext, prec=3)",
    "init through super of a class": "import decimal\nclass P(decimal.Context):\n    pass\n"
    "super(P, P).__init__(decimal.DefaultContext, prec=4)",
    "init through a classmethod": "import decimal\nclass P(decimal.Context):\n"
    "    @classmethod\n    def go(cls):\n        super().__init__(decimal.DefaultContext, prec=5)\n"
    "P.go()",
    "update_wrapper onto a class": "import functools, json\nclass R:\n    pass\n"
    "functools.update_wrapper(R, json.dumps, assigned=('__module__',), updated=())",
    "redirect the process's stdout": "import contextlib\ncm = contextlib.redirect_stdout(kept)",
    "first weekday": "import calendar\ncalendar.setfirstweekday(3)",
    "csv dialects": "import csv\ncsv.unregister_dialect('excel')",
    # A fourth outside pass (2026-12-03).
    "copy state with items()": "import copy, types\nclass A:\n    pass\n"
    "class Items:\n    def items(self):\n        return [('__subclasshook__', 1)]\n"
    "def red(proto):\n    return (lambda: A, (), (None, Items()))\n"
    "copy.copy(types.SimpleNamespace(**{'__reduce_ex__': red}))",
    "copy state onto a class": "import copy, types\nclass A:\n    pass\n"
    "def red(proto):\n    return (lambda: A, (), {'x': 1})\n"
    "copy.copy(types.SimpleNamespace(**{'__reduce_ex__': red}))",
    "str subclass field name": "import dataclasses\nclass N(str):\n"
    "    def startswith(self, *a):\n        return False\n"
    "class D(Exception):\n    __annotations__ = {N('__traceback__'): object}\n"
    "dataclasses.dataclass(D)",
    "str subclass enum name": "import enum\nclass N(str):\n    def startswith(self, *a):\n"
    "        return False\n    def endswith(self, *a):\n        return False\n"
    "X = enum.Enum('X', [(N('__match_args__'), ('tb_frame',)), ('a', 1)])",
    "annotations that are not a dict": "import dataclasses\nclass Ann:\n"
    "    def items(self):\n        return [('__globals__', object)]\n"
    "    def get(self, k, d=None):\n        return d\nclass C:\n    __annotations__ = Ann()\n"
    "dataclasses.dataclass(C)",
    "time zone path": "import zoneinfo\nzoneinfo.reset_tzpath(to=['/etc'])",
    # A fifth outside pass (2026-12-03).
    "singledispatch on the engine's function": "import sys, functools\ndef base(x):\n"
    "    return x\nd = functools.singledispatch(base)\nd.register(sys.setrecursionlimit)",
    # A sixth outside pass (2026-12-03): a generated __eq__ read a field named gi_frame off a
    # generator (a class lying about __class__ passed its check), and the frames led out.
    "a field named like a frame attribute": "from dataclasses import make_dataclass\n"
    "D = make_dataclass('D', ['gi_frame'])",
    "a dataclass field named f_back": "import dataclasses\n@dataclasses.dataclass\n"
    "class D:\n    f_back: object = None",
    "a class lying about __class__": "class Fake:\n    @property\n    def __class__(self):\n"
    "        return int",
    # A seventh outside pass (2026-12-03): private names.
    "a generated __eq__ on a library object": "import dataclasses, pprint\n"
    "@dataclasses.dataclass\nclass D:\n    _stream: int = 0\ngot = []\nclass P:\n"
    "    def __eq__(self, other):\n        got.append(other)\n        return True\n"
    "D.__eq__(pprint.PrettyPrinter(), pprint.PrettyPrinter(stream=P()))",
    "a generated __lt__ on a library object": "import dataclasses, pprint\n"
    "@dataclasses.dataclass(order=True)\nclass D:\n    _stream: int = 0\n"
    "D.__lt__(pprint.PrettyPrinter(), pprint.PrettyPrinter())",
    "what a library base stored privately": "import pprint\nclass Q(pprint.PrettyPrinter):\n"
    "    pass\nx = Q()._stream",
    "a library base's private class table": "import pprint\nclass Q(pprint.PrettyPrinter):\n"
    "    pass\nd = Q._dispatch",
    # An eighth outside pass (2026-12-03).
    "a code object typing compiled": "import typing\n"
    "code = getattr(typing.List['().__class__'].__args__[0], '__forward_code__')",
    "a function made from any code": "import types\ng = types.FunctionType(compile, {})",
    "a generated __init__ on a library class": "import json, dataclasses\n"
    "@dataclasses.dataclass\nclass D:\n    encode: object\n"
    "vars(D)['__init__'](json.JSONEncoder, lambda self, o: 'PWNED')",
    "the function class through type()": "f = type(lambda: 0)\ng = f(None, {})",
    "the function class through __class__": "g = (lambda: 0).__class__(None, {})",
    "a planted object in a field table": "import dataclasses\n@dataclasses.dataclass\n"
    "class D:\n    a: int = 0\nclass S:\n    name = '__class__'\n"
    "vars(D)['__dataclass_fields__']['a'] = S()\ndataclasses.replace(D())",
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_class_hooks_are_refused(payload):
    attack(payload)


def test_the_whole_outside_chain_stops_at_its_first_step():
    """E1 of the outside attack, as sent: a renamed field read by dataclasses.replace."""
    source = (
        "import dataclasses\n@dataclasses.dataclass\nclass X:\n    x: int = 0\n"
        "dataclasses.fields(X)[0].name = '__traceback__'\n"
        "class E(Exception, X):\n    def __init__(self, **kw):\n        self.got = kw\n"
        + TRACEBACK
        + "got = dataclasses.replace(ex).got\n"
    )
    result = run(source)
    assert result.error is not None and "Field" in str(result.error)


IDIOMS = {
    "typing.NamedTuple": "import typing\nclass P(typing.NamedTuple):\n    x: int\n    y: int = 0\n"
    "print(P(1), P(1, 2)._replace(y=5))",
    "typing.Protocol": "import typing\nclass P(typing.Protocol):\n    def f(self) -> int: ...\n"
    "print(P.__name__)",
    "Enum": "import enum\nclass C(enum.Enum):\n    R = 1\n    G = 2\nprint(list(C), C(1))",
    "functional Enum": "import enum\nC = enum.Enum('C', 'RED GREEN')\nprint(C.RED.value)",
    "IntFlag": "import enum\nclass F(enum.IntFlag):\n    A = 1\n    B = 2\nprint(F.A | F.B)",
    "dataclass": "import dataclasses, copy\n@dataclasses.dataclass(order=True)\nclass P:\n"
    "    x: int\n    _y: int = 0\nprint(dataclasses.replace(P(1), x=2), copy.deepcopy(P(3)))",
    "own descriptor": "class D:\n    def __get__(self, obj, owner=None):\n        return 42\n"
    "    def __set_name__(self, owner, name):\n        self.name = name\n"
    "class A:\n    d = D()\nprint(A().d)",
    "register own": "import collections.abc\nclass S(collections.abc.Sized):\n"
    "    def __len__(self):\n        return 0\n@S.register\nclass Other:\n    pass\n"
    "print(isinstance(Other(), S))",
    "slots and hash": "class A:\n    __slots__ = ('x',)\n    __hash__ = None\n"
    "    def __init__(self):\n        self.x = 1\nprint(A().x)",
    "nested function binds": "class A:\n    def f(self):\n        __del__ = 1\n        return __del__\n"
    "print(A().f())",
    "copy a namespace": "import copy, types\nn = copy.deepcopy(types.SimpleNamespace(a=[1]))\n"
    "print(n.a)",
    "own reduce": "import copy\nclass R:\n    def __init__(self, v=0):\n        self.v = v\n"
    "    def __reduce__(self):\n        return (R, (), {'v': self.v, '_w': 2})\n"
    "print(copy.copy(R(5)).v)",
    "super, both forms": "class A(dict):\n    def __init__(self):\n        super().__init__(a=1)\n"
    "class B(A):\n    def keys(self):\n        return list(super(B, self).keys())\nprint(B().keys())",
    "base __init__": "class E(Exception):\n    def __init__(self, m):\n"
    "        Exception.__init__(self, m)\n        self.m = m\n"
    "class A:\n    def __init__(self, v=0):\n        self.v = v\n    def reset(self):\n"
    "        self.__init__()\nprint(E('x').m, A(3).reset())",
    "singledispatch": "import functools\n@functools.singledispatch\ndef d(x):\n    return 0\n"
    "@d.register\ndef _(x: int | str):\n    return 1\n@d.register(float)\ndef _(x):\n    return 2\n"
    "print(d(3), d('a'), d(1.0), d([]))",
    "lazy module": "import urllib\nprint(urllib.parse.__name__, urllib.parse.quote('a b'))",
    "positional class patterns": "import dataclasses, collections\n@dataclasses.dataclass\n"
    "class P:\n    x: object\n    y: int = 0\nN = collections.namedtuple('N', 'a b')\n"
    "def f(v):\n    match v:\n        case P(P(x)):\n            return x\n"
    "        case N(a, b) if a < b:\n            return a + b\n        case [int(n), str(s)]:\n"
    "            return s * n\nprint(f(P(P(3))), f(N(1, 2)), f([2, 'a']))",
    "base class __init__ of a library": "import decimal\nclass P(decimal.Context):\n"
    "    def __init__(self):\n        super().__init__(prec=7)\nclass D(dict):\n"
    "    def __init__(self):\n        dict.__init__(self, a=1)\nprint(P().prec, D())",
    "isinstance against types.FunctionType": "import types\ndef f():\n    pass\n"
    "print(isinstance(f, types.FunctionType), isinstance(len, types.LambdaType))",
    "cached_property": "import functools\nclass A:\n    @functools.cached_property\n"
    "    def v(self):\n        return 7\nprint(A().v)",
}


@pytest.mark.parametrize("source", IDIOMS.values(), ids=IDIOMS.keys())
def test_ordinary_class_idioms_still_run(source):
    ok(source)


EXITS = {
    "function": "    def __exit__(self, kind, exc, tb):\n        return hold(kind, exc, tb)\n",
    "staticmethod": "    __exit__ = staticmethod(lambda kind, exc, tb: hold(kind, exc, tb))\n",
    "partialmethod": "    __exit__ = functools.partialmethod(lambda self, *a: hold(*a))\n",
    "bound method": "    __exit__ = Holder().take\n",
}


@pytest.mark.parametrize("exit_source", EXITS.values(), ids=EXITS.keys())
def test_every_kind_of_exit_gets_the_cells_frames_only(exit_source):
    session = Session(Config(mode="python", lm="off", cache="off"))
    source = (
        "import functools, json\nheld = []\n"
        "def hold(kind, exc, tb):\n    held.append(tb)\n    return True\n"
        "class Holder:\n    def take(self, kind, exc, tb):\n        return hold(kind, exc, tb)\n"
        "class C:\n    def __enter__(self):\n        return self\n" + exit_source +
        "with C():\n    json.loads('{')\n"
    )  # fmt: skip
    result = session.run(source)
    assert result.error is None, result.error
    (tb,) = session.namespace["held"]
    assert cell_frames_only(tb, session.namespace)  # json's and the engine's frames were cut away


MODULE_STATE = [
    "import calendar\ncalendar.mdays[2] = 30",
    "import decimal\ndecimal.DefaultContext.traps[decimal.DivisionByZero] = False\n1 / 0",
    "import hashlib\nhashlib.algorithms_guaranteed.add('evil')",
    "import __future__\n__future__.all_feature_names.append('x')",
]


@pytest.mark.parametrize("payload", MODULE_STATE)
def test_module_held_containers_are_the_programs_own_copies(payload):
    import __future__

    import calendar
    import hashlib

    before = (list(calendar.mdays), set(hashlib.algorithms_guaranteed),
              list(__future__.all_feature_names))  # fmt: skip
    assert run(payload).error is not None
    after = (list(calendar.mdays), set(hashlib.algorithms_guaranteed),
             list(__future__.all_feature_names))  # fmt: skip
    assert after == before
    ok(
        "import calendar, hashlib\nprint(calendar.mdays[2], 'sha256' in hashlib.algorithms_guaranteed)"
    )


def test_a_class_pattern_reads_the_match_args_that_were_checked():
    """The tuple is copied where the match starts: a guard that gives the class new
    ``__match_args__`` afterwards (here through ``dataclass()``) changes nothing."""
    source = (
        "import dataclasses, typing\nclass B(typing.Protocol):\n"
        "    __annotations__ = {'value': object}\nB.__name__ = 'Protocol'\n"
        "@typing.runtime_checkable\nclass P(B, typing.Protocol):\n    pass\n"
        "def arm():\n    dataclasses.dataclass(B)\n    return False\n"
        "def g():\n    yield 1\nmatch g():\n    case _ if arm():\n        pass\n"
        "    case P(v):\n        leak = v\n"
    )
    session = Session(Config(mode="python", lm="off", cache="off"))
    result = session.run(source)
    assert isinstance(result.error, TypeError) and "0 positional" in str(result.error)
    assert "leak" not in session.namespace


HELD = [
    "import json\nkd = json.dumps.__kwdefaults__\nkd['cls'] = dict",
    "import sys\nnotes = sys.setrecursionlimit.__annotations__\nnotes['limit'] = 'ModuleGate'",
    "import string\nd = string.Template.substitute.__defaults__\nd[0]['x'] = 1",
    "import dataclasses\n@dataclasses.dataclass\nclass D:\n    a: int = 0\n"
    "D.__dataclass_fields__.clear()",
]


@pytest.mark.parametrize("payload", HELD)
def test_containers_another_function_holds_are_read_only_copies(payload):
    import json
    import string

    result = run(payload)
    assert isinstance(result.error, (TypeError, AttributeError)), result.error
    assert json.dumps.__kwdefaults__["cls"] is None
    assert string.Template.substitute.__defaults__[0] == {}


def test_exit_stack_callbacks_it_cannot_place_get_no_traceback():
    session = Session(Config(mode="python", lm="off", cache="off"))
    source = (
        "import functools, contextlib\ngot = []\ndef ex(kind, exc, tb):\n    got.append(tb)\n"
        "    return True\nwith contextlib.ExitStack() as st:\n    st.push(functools.lru_cache(ex))\n"
        "    1 / 0\n"
    )
    assert session.run(source).error is None
    assert session.namespace["got"] == [None]


def test_exit_stack_callbacks_get_the_cells_frames_only():
    session = Session(Config(mode="python", lm="off", cache="off"))
    source = (
        "import contextlib, json\ngot = []\ndef cb(t, e, tb):\n    got.append(tb)\n"
        "    return True\nwith contextlib.ExitStack() as st:\n    st.push(cb)\n"
        "    st.callback(got.append, 'closed')\n    json.loads('[')\n"
    )
    result = session.run(source)
    assert result.error is None, result.error
    tb, closed = session.namespace["got"][1], session.namespace["got"][0]
    assert closed == "closed"
    assert cell_frames_only(tb, session.namespace)


def test_a_special_attribute_never_gives_code_frames_or_real_modules():
    """Whatever a special attribute is called (a library's new one would pass a deny-list of
    names), its value is checked by kind."""
    import sys
    import types

    from lmulator.policy import guards
    from lmulator.policy.modules import FrozenModule
    from lmulator.policy.refusals import PolicyError

    code = compile("1", "<x>", "eval")
    for value in (code, sys._getframe(), sys, types.CellType(1)):
        with pytest.raises(PolicyError, match="not available"):
            guards.checked_special("__anything_new__", value)
    snapshot = FrozenModule("math", None)
    assert guards.checked_special("__x__", snapshot) is snapshot
    assert guards.checked_special("__x__", "text") == "text"
    holder = types.SimpleNamespace(__later_code__=code)
    with pytest.raises(PolicyError):
        guards.static_getattr(holder, "__later_code__")
