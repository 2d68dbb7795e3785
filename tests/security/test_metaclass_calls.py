"""Three-argument calls of any metaclass build a class past ``__build_class__`` and the class
checks (issue #12, family 4): refused whatever the metaclass is and however it was reached."""

import pytest

from .attack import attack

PAYLOADS = [
    "type('X', (), {})",
    "type(int)('X', (), {})",
    "import collections.abc\ntype(collections.abc.Sized)('X', (), {})",
    "import enum\ntype(enum.Enum)('X', (), {})",
    "class A:\n    pass\ntype(A)('X', (A,), {'__init_subclass__': print})",
    "t = type\nt('X', (), {})",
    "k = kept.__class__.__class__\nk('X', (), {})",
    "import types\ntypes.new_class('X')",
    "class M(type):\n    pass\nM('X', (), {})",
    "class A(metaclass=type):\n    pass",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_metaclass_calls_with_three_arguments_are_refused(source):
    attack(source)
