"""``match`` class patterns and ``__match_args__`` read attributes past the runtime guards
(issue #12, family 3): any pattern that would read a guarded or refused attribute is refused."""

import pytest

from .attack import attack

PAYLOADS = [
    "match 'a{0.__class__}':\n    case str(format=f):\n        leak = f",
    "match 'x':\n    case str(format_map=f):\n        leak = f",
    "try:\n    kept.nope\nexcept AttributeError as e:\n    match e:\n"
    "        case AttributeError(obj=o):\n            leak = o",
    "match kept:\n    case list(__class__=c):\n        leak = c",
    "match int:\n    case type(__subclasses__=s):\n        leak = s()",
    "match int:\n    case type(mro=m):\n        leak = m()",
    "def f():\n    pass\nmatch f:\n    case object(__globals__=g):\n        leak = g",
    "def f():\n    pass\nmatch f:\n    case object(__code__=c):\n        leak = c",
    "def g():\n    yield 1\nmatch g():\n    case object(gi_frame=fr):\n        leak = fr",
    "class S(str):\n    __match_args__ = ('format',)\nmatch S('{0.__class__}'):\n"
    "    case S(f):\n        leak = f",
    "class F:\n    __match_args__ = ('__globals__',)",
    "names = ('__globals__',)\nclass F:\n    __match_args__ = names",
    "class F:\n    __match_args__ = ('_private',)",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_patterns_reading_guarded_attributes_are_refused(source):
    attack(source)
