"""Frame walks from generators, coroutines and tracebacks (CVE-2023-37271 and relatives)."""

import pytest

from lmulator.policy.policy import PolicyViolation

from .attack import attack

GEN = "def gen():\n    yield 1\ng = gen()\n"

PAYLOADS = [
    # The published exploit: walk from a generator's frame to the caller's globals.
    GEN + "next(g)\nframe = g.gi_frame.f_back.f_back\nb = frame.f_globals['__builtins__']",
    GEN + "f = g.gi_frame",
    GEN + "c = g.gi_code",
    GEN + "y = g.gi_yieldfrom",
    "f = (x for x in [1]).gi_frame",
    GEN + "f = getattr(g, 'gi_' + 'frame')",
    GEN + "import operator\nf = operator.attrgetter('gi_frame')(g)",
    "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    tb = e.__traceback__",
    "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    f = getattr(e, '__traceback__')",
    "import sys\nf = sys._getframe()",
    "import sys\ntb = sys.exc_info()",
    "import inspect\nf = inspect.currentframe()",
    "import traceback\nf = traceback.extract_stack()",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_frame_walks_are_refused(source):
    attack(source)


def test_frame_attributes_are_refused_before_anything_runs():
    for attr in ("gi_frame", "f_back", "f_globals", "tb_frame", "cr_frame", "ag_frame"):
        (error, _) = attack(GEN + f"x = g.{attr}")
        assert isinstance(error, PolicyViolation)
