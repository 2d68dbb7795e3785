"""Attribute walks through format strings (CVE-2023-41039, GHSA-hp3v-5vw7-fx9w)."""

import pytest

from lmulator.policy.refusals import PolicyError

from ..policy.helpers import value
from .attack import attack

PAYLOADS = [
    "s = '{0.__class__.__base__}'.format(1)",
    "s = '{0.__class__.__base__}'.format(1)",
    "s = '{x.__init__.__globals__}'.format(x=1)",
    "s = '{a.__class__.__base__}'.format_map({'a': 1})",
    "s = str.format('{0.__class__.__base__}', 1)",
    "f = '{0.__class__.__base__}'.format\ns = f(1)",
    "f = getattr('{0.__class__.__base__}', 'format')\ns = f(1)",
    "s = '{0:{1.__class__.__base__}}'.format(1, 2)",
    "s = '{0[0].__class__.__base__}'.format([1])",
    "s = '{0.gi_frame}'.format((x for x in []))",
    "import string\ns = string.Formatter().format('{0.__class__.__base__}', 1)",
    "import string\ns = string.Formatter().vformat('{0.__class__.__base__}', (1,), {})",
    "import string\nf = string.Formatter()\ns = f.get_field('0.__class__.__base__', (1,), {})",
    "import string\ns = string.Template('$x').substitute(x=1).__class__.__base__",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_format_walks_are_refused(source):
    attack(source)


def test_walks_through_str_format_are_refused_by_the_format_guard():
    (error, _) = attack("s = '{0.__class__.__base__}'.format(1)")
    assert isinstance(error, PolicyError)


def test_formatting_of_plain_data_still_works():
    assert value("'{0} {x:>3} {1[0]}'.format(1, [2], x=3)") == "1   3 2"
    assert (
        value("class P:\n    def __init__(self):\n        self.x = 4\n'{0.x}'.format(P())") == "4"
    )
