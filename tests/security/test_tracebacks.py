"""Tracebacks handed to cells (issue #12, family 5): a traceback a cell can hold shows the
cell's own frames only, and nothing in it leads to a frame."""

import pytest

from .attack import attack

HOLD = (
    "class C:\n    def __enter__(self):\n        return self\n"
    "    def __exit__(self, kind, exc, tb):\n        self.tb = tb\n        return True\n"
    "c = C()\nwith c:\n    import json\n    json.loads('{')\n"
)

PAYLOADS = [
    HOLD + "c.tb.tb_frame",
    HOLD + "c.tb.tb_next",
    HOLD + "getattr(c.tb, 'tb_frame')",
    HOLD + "import operator\noperator.attrgetter('tb_frame')(c.tb)",
    HOLD + "vars(c.tb)",
    "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    leak = e.__traceback__",
    "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    leak = getattr(e, '__traceback__')",
    "import sys\nleak = sys.exc_info()",
    "import contextlib\nwith contextlib.ExitStack() as s:\n"
    "    s.push(lambda *a: kept.append(a[2].tb_frame))\n    1 / 0",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_tracebacks_lead_to_no_frame(source):
    attack(source)
