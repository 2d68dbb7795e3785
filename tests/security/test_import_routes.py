"""Imports off the allow-list, through every route a program has."""

import pytest

from .attack import attack

PAYLOADS = [
    "import os",
    "import subprocess",
    "import gc",
    "import ctypes",
    "import builtins",
    "import importlib",
    "import json.tool",
    "from os import path",
    "from . import x",
    "from importlib import import_module",
    "os = __import__('os')",
    "os = getattr(print, '__self__').__import__('os')",
    "import importlib\nos = importlib.import_module('os')",
    "import typing\nmods = typing.sys.modules",
    "import random\nos = random._os",
    "import uuid\nos = uuid.os",  # uuid imports os: its snapshot does not show it
    "import json\nd = json.decoder.re",
    "import collections\ns = collections._sys.modules",  # collections imports sys as _sys
    "import calendar\ns = calendar.sys.modules",  # calendar imports sys
    "import urllib.parse\ns = urllib.parse.sys.modules",
    "import re\ns = re.enum.sys.modules",
    "import string\ns = string._re",
    "import math\nl = math.__loader__",
    "import math\ns = math.__spec__",
    "import sys\nm = sys.modules",
    "import sys\np = sys.path",
    "import sys\nb = sys.stdout._name",  # the stand-in's own state
    "import sys\nb = getattr(sys.stdout, '_name')",
    "exec('import os')",
    "eval('__import__(\"os\")')",
    "compile('import os', 'x', 'exec')",
    "b = open('/etc/passwd').read()",
    "breakpoint()",
]


@pytest.mark.parametrize("source", PAYLOADS)
def test_imports_off_the_list_are_refused(source):
    attack(source)


def test_modules_an_allowed_one_imports_are_not_exposed_through_it():
    from ..policy.helpers import value

    assert value("import urllib.parse\nhasattr(urllib.parse, 'sys')") is False
    assert value("import re\nhasattr(re, 'enum')") is False
    # a submodule on the list is still reached through its package, as its snapshot
    assert value("import collections\nimport collections.abc as abc\ncollections.abc is abc")
