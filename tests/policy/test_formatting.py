import pytest

from lmulator.guards import PolicyError

from .helpers import refused, value


def test_fstrings():
    assert value("x = 3.14159\nf'{x:.2f} {x!r:>10}'") == "3.14    3.14159"


def test_str_format_on_plain_data():
    assert value("'{0} + {b} = {0}{c[1]}'.format(1, b=2, c=[0, 'x'])") == "1 + 2 = 1x"
    assert value("'{a}'.format_map({'a': 5})") == "5"
    assert value("str.format('{:>3}', 7)") == "  7"


@pytest.mark.parametrize(
    "source",
    [
        "'{0.__class__}'.format(1)",
        "'{0.__class__.__base__}'.format(1)",
        "'{x.__init__.__globals__}'.format(x=1)",
        "'{a.__class__}'.format_map({'a': 1})",
        "str.format('{0.__class__}', 1)",
        "f = '{0.__class__}'.format\nf(1)",
        "import string\nstring.Formatter().format('{0.__class__}', 1)",
        "'{0:{1.__class__}}'.format(1, 2)",
    ],
)
def test_format_cannot_walk_to_private_attributes(source):
    # CVE-2023-41039 and GHSA-hp3v-5vw7-fx9w.
    assert isinstance(refused(source), PolicyError)


def test_format_may_read_public_attributes():
    assert (
        value("class P:\n    def __init__(self):\n        self.x = 4\n'{0.x}'.format(P())") == "4"
    )
