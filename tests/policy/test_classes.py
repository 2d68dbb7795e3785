from lmulator.policy.policy import PolicyViolation
from lmulator.policy.refusals import PolicyError

from .helpers import ok, refused, value


def test_classes_with_init_and_attribute_writes():
    assert (
        value(
            "class Counter:\n"
            "    def __init__(self):\n        self.n = 0\n"
            "    def add(self, k=1):\n        self.n += k\n        return self\n"
            "c = Counter().add().add(3)\nc.n"
        )
        == 4
    )


def test_special_methods_can_be_defined():
    ok(
        "class V:\n"
        "    def __init__(self, x):\n        self.x = x\n"
        "    def __repr__(self):\n        return f'V({self.x})'\n"
        "    def __add__(self, o):\n        return V(self.x + o.x)\n"
        "    def __eq__(self, o):\n        return self.x == o.x\n"
        "    def __len__(self):\n        return self.x\n"
        "assert V(1) + V(2) == V(3)\nassert repr(V(3)) == 'V(3)'\nassert len(V(4)) == 4"
    )


def test_the_programs_own_classes_may_define_any_special_method():
    source = (
        "class A:\n    def __getattribute__(self, n):\n        return n.upper()\n"
        "    def __init_subclass__(cls):\n        cls.tag = 'sub'\nclass B(A):\n    pass\n"
        "(A().x, B.tag)"
    )
    assert value(source) == ("X", "sub")
    assert isinstance(refused("x = A.__getattribute__"), PolicyViolation)


def test_metaclass_keyword_is_refused():
    assert isinstance(
        refused("class M(type):\n    pass\nclass A(metaclass=M):\n    pass"), PolicyViolation
    )


def test_class_attributes_of_own_classes_can_change():
    assert value("class A:\n    n = 1\nA.n = 2\nA.n") == 2


def test_foreign_classes_and_functions_cannot_change():
    assert isinstance(refused("int.bit_length = len"), (PolicyError, TypeError))
    assert isinstance(refused("import json\njson.dumps.flag = 1"), PolicyError)
    assert isinstance(
        refused("import fractions\nfractions.Fraction.limit_denominator = 1"), PolicyError
    )


def test_own_functions_can_carry_attributes():
    assert value("def f():\n    pass\nf.calls = 3\nf.calls") == 3


def test_dataclasses_work():
    assert (
        value(
            "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\n    y: int = 2\nP(1)"
        ).y
        == 2
    )
