"""The copy protocol: ``copy.copy``/``deepcopy`` read an object's ``__dict__`` past the attribute
guards and leave what they found in the memo; no engine object a program reaches (the import
gate inside a lazily imported submodule, a module snapshot) may be copied or reduced, so none of
its insides reach the program. Found by an outside attack on 2026-12-03: the import gate, copied
out of ``urllib.parse`` into a memo, imported ``os``."""

import copy

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from tests.policy.helpers import ok, run

GATE_OUT = "\ngates = [v for v in box if type(v).__name__ == 'ModuleGate']\n"

PAYLOADS = [
    # the memo the program passes in
    "import urllib, copy\nmemo = {}\ntry:\n    copy.deepcopy(urllib.parse, memo)\n"
    "except Exception:\n    pass\nbox = list(memo.values())",
    "import collections, copy\nmemo = {}\ntry:\n    copy.deepcopy(collections.abc, memo)\n"
    "except Exception:\n    pass\nbox = list(memo.values())",
    # the memo handed to a program's own __deepcopy__ hook
    "import urllib, copy\nseen = []\nclass Spy:\n    def __deepcopy__(self, memo):\n"
    "        seen.append(memo)\n        return self\ntry:\n    copy.deepcopy([Spy(), urllib.parse])\n"
    "except Exception:\n    pass\nbox = [v for m in seen for v in m.values()]",
    # shallow copies and reductions by hand
    "import urllib, copy\nbox = []\ntry:\n    box.append(copy.copy(urllib.parse))\nexcept Exception:\n"
    "    pass",
    "import urllib\nbox = []\ntry:\n    box.extend(urllib.parse.__reduce_ex__(2))\nexcept Exception:\n"
    "    pass",
    "import math, copy\nbox = []\ntry:\n    box.append(copy.deepcopy({'m': math}))\nexcept Exception:\n"
    "    pass",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_import_gate_comes_out_of_a_copy(payload):
    session = Session(Config(mode="python"))
    result = session.run(payload + GATE_OUT)
    if result.error is None:
        assert session.namespace["gates"] == []
    else:  # refused (a dunder at compile time) before anything was copied
        assert "gates" not in session.namespace


def test_copying_an_engine_object_is_refused_with_a_clear_error():
    result = run("import urllib, copy\ncopy.deepcopy(urllib.parse)")
    assert "cannot be copied or reduced" in str(result.error)


def test_a_programs_own_data_still_copies():
    got = ok(
        "import copy\nclass P:\n    def __init__(self):\n        self.xs = [1, [2]]\n"
        "p = copy.deepcopy(P())\nq = copy.copy({'a': [1]})\n(p.xs, q)"
    )
    assert got.value == ([1, [2]], {"a": [1]})


def test_a_copied_gate_would_import_nothing_off_its_allow_list():
    """Even a gate obtained some other way: its C-code route takes named helpers only."""
    from lmulator.policy.modules import ModuleGate

    gate = ModuleGate(["datetime"])
    assert gate.import_("_strptime", None, None, [], 0).__name__ == "_strptime"
    for name in ("os", "subprocess", "_posixsubprocess", "importlib"):
        with pytest.raises(ImportError):
            gate.import_(name, None, None, [], 0)
    with pytest.raises(ImportError):
        ModuleGate(["math"]).import_("_strptime", None, None, [], 0)  # no module that needs it
    with pytest.raises(Exception, match="cannot be copied"):
        copy.deepcopy(gate)


LEAK_THROUGH_A_MEMO = """
import copy
class Dummy:
    pass
class Memo(dict):
    def get(self, d, default=None):
        self.trail.append(d)
        return self.dummy if d in self.block else dict.get(self, d, default)
def attempt(target, block):
    m = Memo()
    m.trail, m.block, m.dummy = [], block, Dummy()
    keep = []
    m[id(m)] = keep
    try:
        copy.deepcopy(target, m)
        return keep, None
    except Exception:
        return keep, (m.trail[-1] if m.trail else None)
def harvest(target):
    block = set()
    for i in range(50):
        keep, bad = attempt(target, block)
        if bad is None:
            return keep
        block.add(bad)
    return []
kept = [type(k).__name__ for t in (setattr, delattr, print) for k in harvest(t)]
"""


def test_a_memo_of_the_programs_own_hands_it_nothing():
    """A second outside attack the same day: a dict subclass as memo skipped each refusal and
    the keep-alive list returned the session itself (then set_policy('trusted'))."""
    session = Session(Config(mode="python"))
    session.run(LEAK_THROUGH_A_MEMO)
    assert not {"Session", "Runtime", "WriteGuard", "ModuleGate", "Policy"} & set(
        session.namespace.get("kept", [])
    )
    assert "takes no memo" in str(run("import copy\ncopy.deepcopy([1], {})").error)
    assert "cannot be copied" in str(run("import copy\ncopy.deepcopy(setattr)").error)


def test_copying_a_bound_method_reads_no_attribute_of_the_programs_choosing():
    """A third outside attack the same day: a bound method's reduction is the real getattr of
    its __self__ by its __name__; bound to the guarded getattr and named '__globals__', a
    shallow copy handed back the guards' module globals and the real builtins."""
    session = Session(Config(mode="python"))
    result = session.run(
        "import copy, types, functools\n"
        "class N:\n    __name__ = '__globals__'\n"
        "def g(self):\n    pass\n"
        "m = types.MethodType(functools.wraps(N())(g), getattr)\n"
        "got = copy.copy(m)\n"
        "same = got is m"
    )
    assert result.error is None or "__name__" in str(result.error)
    assert not isinstance(session.namespace.get("got"), dict)
    renamed = Session(Config(mode="python"))
    renamed.run(
        "import copy, types\ndef g(self):\n    pass\ng.__name__ = '__globals__'\n"
        "got = copy.copy(types.MethodType(g, getattr))"
    )
    assert not isinstance(renamed.namespace.get("got"), dict)


DATACLASS_READS = [
    # a fourth outside pass: replace() read a planted field named __traceback__ with the real
    # getattr and handed the program the real traceback
    "import dataclasses\nX = dataclasses.make_dataclass('X', ['__traceback__'])\n"
    "class E(Exception):\n    __dataclass_fields__ = {f.name: f for f in dataclasses.fields(X)}\n"
    "    def __init__(self, **kw):\n        self.got = kw\n"
    "try:\n    raise E()\nexcept E as e:\n    ex = e\n"
    "got = dataclasses.replace(ex).got['__traceback__']",
    "import dataclasses\n@dataclasses.dataclass\nclass X:\n    __traceback__: int = 0\n"
    "class E(Exception, X):\n    pass\ntry:\n    raise E()\nexcept E as e:\n    ex = e\n"
    "got = dataclasses.asdict(ex)",
    "import dataclasses\nf = dataclasses.field()\nf.name = '__traceback__'\n"
    "class E(Exception):\n    __dataclass_fields__ = {'__traceback__': f}\n"
    "    def __init__(self, **kw):\n        self.got = kw\n"
    "try:\n    raise E()\nexcept E as e:\n    ex = e\n"
    "got = dataclasses.replace(ex).got",
]


@pytest.mark.parametrize("payload", DATACLASS_READS)
def test_dataclass_functions_read_no_field_a_program_may_not(payload):
    session = Session(Config(mode="python"))
    result = session.run(payload)
    assert result.error is not None, session.namespace.get("got")
    assert "traceback" not in type(session.namespace.get("got")).__name__


def test_ordinary_dataclasses_still_work():
    got = ok(
        "import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass P:\n    x: int\n"
        "    y: int = 2\nQ = dataclasses.make_dataclass('Q', ['a', ('b', int)])\n"
        "(dataclasses.replace(P(1), y=3), dataclasses.asdict(Q(1, 2)), "
        "[f.name for f in dataclasses.fields(P)], dataclasses.astuple(P(4)))"
    )
    assert repr(got.value) == "(P(x=1, y=3), {'a': 1, 'b': 2}, ['x', 'y'], (4, 2))"
