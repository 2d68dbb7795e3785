"""Class patterns read attributes past the guards: only plain ones are allowed."""

import pytest

from lmulator.policy.policy import PolicyViolation

from .helpers import refused, value


def test_class_patterns_on_the_programs_own_classes():
    source = (
        "class P:\n    __match_args__ = ('x', 'y')\n    def __init__(self, x, y):\n"
        "        self.x, self.y = x, y\n"
        "match P(1, 2):\n    case P(a, y=b):\n        found = a + b\nfound"
    )
    assert value(source) == 3


@pytest.mark.parametrize(
    "source",
    ["match 's':\n    case str(format=f):\n        pass",
     "match ValueError():\n    case AttributeError(obj=o):\n        pass",
     "match 1:\n    case int(__class__=c):\n        pass",
     "match 1:\n    case int(mro=m):\n        pass",
     "class S(str):\n    __match_args__ = ('format',)",
     "class S(str):\n    __match_args__ = ('__globals__',)",
     "class S(str):\n    __match_args__ = names"],
)  # fmt: skip
def test_patterns_that_would_read_guarded_or_refused_attributes(source):
    assert isinstance(refused(source), PolicyViolation)
