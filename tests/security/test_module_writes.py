"""Writes into imported modules: refused, and the real module is never touched."""

import collections
import math

import pytest

from lmulator.policy.refusals import PolicyError

from .attack import attack

PAYLOADS = [
    "import math\nmath.pi = 3",
    "import math\ndel math.pi",
    "import math\nsetattr(math, 'pi', 3)",
    "import math\ndelattr(math, 'pi')",
    "import math as m\nalias = m\nalias.pi = 3",
    "import math\nmods = [math]\nmods[0].pi = 3",
    "import math\nmath.pi += 1",
    "import math\nmath.sqrt = len",
    "import collections\ncollections.Counter.most_common = len",
    "from collections import Counter\nCounter.most_common = len",
    "import json\njson.dumps = repr",
    "import json\njson.decoder.JSONDecoder.decode = len",
    "import re\nre.compile.__defaults__ = (1,)",
    "import math\nmath.__dict__['pi'] = 3",
    "import math\nvars(math)['pi'] = 3",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_module_writes_are_refused(source):
    attack(source)
    assert math.pi == pytest.approx(3.141592653589793)
    assert math.sqrt(16) == 4.0
    assert collections.Counter("aab").most_common(1) == [("a", 2)]


def test_module_writes_end_in_a_policy_error():
    (error, _) = attack("import math\nmath.pi = 3")
    assert isinstance(error, PolicyError)
