from .helpers import value


def test_fstrings():
    assert value("x = 3.14159\nf'{x:.2f} {x!r:>10}'") == "3.14    3.14159"


def test_str_format_on_plain_data():
    assert value("'{0} + {b} = {0}{c[1]}'.format(1, b=2, c=[0, 'x'])") == "1 + 2 = 1x"
    assert value("'{a}'.format_map({'a': 5})") == "5"
    assert value("str.format('{:>3}', 7)") == "  7"


def test_format_may_read_public_attributes():
    assert (
        value("class P:\n    def __init__(self):\n        self.x = 4\n'{0.x}'.format(P())") == "4"
    )
