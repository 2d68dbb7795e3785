"""Every row of the policy's table of refused attributes, tried spelled out and computed."""

import pytest

from lmulator.policy.policy import REFUSED_ATTRIBUTES, PolicyViolation

from .helpers import refused

RECEIVERS = {
    "__globals__": "(lambda: 0)", "__code__": "(lambda: 0)", "__closure__": "(lambda: 0)",
    "__builtins__": "(lambda: 0)", "__subclasses__": "int", "__mro__": "int",
    "__bases__": "int", "__base__": "int", "mro": "int", "__self__": "print",
    "__func__": "[].append", "__wrapped__": "abs", "__objclass__": "str.join",
    "__getattribute__": "object", "__setattr__": "object", "__delattr__": "object",
    "__reduce__": "[]", "__reduce_ex__": "[]", "__getstate__": "[]", "__setstate__": "[]",
    "__traceback__": "ValueError()", "__context__": "ValueError()",
    "__cause__": "ValueError()", "__loader__": "int", "__spec__": "int",
    "__import__": "int", "__init_subclass__": "int", "__set_name__": "int",
    "__get__": "(lambda: 0)", "__set__": "property()", "__delete__": "property()",
    "__forward_code__": "int",
}  # fmt: skip


def test_every_row_has_a_receiver_here():
    assert set(RECEIVERS) == set(REFUSED_ATTRIBUTES)


@pytest.mark.parametrize("name", sorted(REFUSED_ATTRIBUTES))
def test_a_refused_attribute_is_refused_spelled_out_and_computed(name):
    receiver = RECEIVERS[name]
    assert isinstance(refused(f"x = {receiver}.{name}"), PolicyViolation)
    computed = refused(f"x = getattr({receiver}, '{'_' * 0}{name}')")
    assert "not allowed" in str(computed)


@pytest.mark.parametrize(
    "source",
    ["import random\nrandom._inst", "import string\nstring.Formatter()._vformat",
     "import collections\ncollections.OrderedDict()._OrderedDict__root",
     "import json\njson.JSONDecoder()._scan_once", "x = (1).__class__.__subclasses__()",
     "import collections\nobject.__dict__", "import math\nmath.__dict__"],
)  # fmt: skip
def test_private_attributes_and_dicts_of_objects_the_program_did_not_make(source):
    refused(source)
