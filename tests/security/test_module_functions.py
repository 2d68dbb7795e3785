"""Allow-listed functions that take attribute names or annotations as data (issue #12, family 1)."""

import pytest

from ..policy.helpers import value
from .attack import attack

PAYLOADS = [
    # update_wrapper/wraps copying chosen attributes of a foreign object onto the program's own
    "import functools\nclass W:\n    pass\nw = W()\n"
    "functools.update_wrapper(w, print, assigned=('__builtins__',))\nb = vars(w)['__builtins__']",
    "import functools\nclass W:\n    pass\nw = W()\n"
    "functools.update_wrapper(w, print, assigned=(), updated=('__globals__',))",
    "import functools\nclass W:\n    pass\nw = functools.wraps(print, assigned=('__self__',))(W())\n"
    "b = vars(w)['__self__']",
    "import functools\ndef f():\n    pass\nclass W:\n    pass\n"
    "w = functools.update_wrapper(W(), f, assigned=('__module__', '__code__'))",
    # singledispatch evaluating a string annotation past every guard
    "import functools\n@functools.singledispatch\ndef f(x):\n    pass\n"
    "@f.register\ndef g(x: '().__class__.__base__.__subclasses__()'):\n    pass",
    "import functools\n@functools.singledispatch\ndef f(x):\n    pass\n"
    "@f.register\ndef g(x: '__import__(\"os\").system'):\n    pass",
    "import functools\nm = functools.singledispatchmethod",
    # enum's global_enum writes members into the globals of the module a class names
    "import enum\nE = enum.Enum('E', 'open', module='lmulator.policy.guards')\nenum.global_enum(E)",
    "import enum\ng = enum.global_enum",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_module_functions_that_take_names_as_data_are_checked(source):
    attack(source)


def test_the_ordinary_uses_still_work():
    wraps = (
        "import functools\ndef deco(f):\n    @functools.wraps(f)\n    def w(*a):\n"
        "        return f(*a)\n    return w\n@deco\ndef add(a, b):\n    'adds'\n    return a + b\n"
        "(add(1, 2), add.__name__, add.__doc__)"
    )
    assert value(wraps) == (3, "add", "adds")
    dispatch = (
        "import functools\n@functools.singledispatch\ndef show(x):\n    return 'any'\n"
        "@show.register\ndef _(x: 'int | str'):\n    return 'int or str'\n"
        "@show.register(list)\ndef _(x):\n    return 'list'\n(show(1), show('s'), show([]), show(1.5))"
    )
    assert value(dispatch) == ("int or str", "int or str", "list", "any")
