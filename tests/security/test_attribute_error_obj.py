"""Objects handed out by exceptions: ``AttributeError.obj`` (CVE-2024-47532) and relatives."""

import pytest

from ..policy.helpers import value
from .attack import attack

CATCH = "try:\n    (1).nothing\nexcept AttributeError as e:\n    "

PAYLOADS = [
    CATCH + "leaked = e.obj",
    CATCH + "leaked = getattr(e, 'obj')",
    CATCH + "leaked = '{0.obj}'.format(e)",
    CATCH + "import operator\n    leaked = operator.attrgetter('obj')(e)",
    CATCH + "leaked = e.__context__",
    CATCH + "leaked = e.__traceback__",
    CATCH + "leaked = vars(e)",
    "try:\n    import os\nexcept ImportError as e:\n    leaked = e.__traceback__.tb_frame",
    "try:\n    nothing\nexcept NameError as e:\n    leaked = e.__traceback__",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_exception_leaks_are_refused(source):
    attack(source)


def test_public_exception_attributes_still_work():
    assert value(CATCH + "n = e.name\nn") == "nothing"
    assert (
        value("try:\n    int('x')\nexcept ValueError as e:\n    a = e.args\na[0][:7]") == "invalid"
    )
