from lmulator.policy.policy import Policy
from lmulator.policy.refusals import PolicyError

from .helpers import ok, refused, run, value


def test_allowed_modules_import():
    assert value("import math\nmath.sqrt(16)") == 4.0
    assert value("from collections import Counter\nCounter('aab')['a']") == 2
    assert value("import collections.abc\nisinstance([], collections.abc.Sequence)") is True
    assert value("from collections import abc\nabc.Mapping.__name__") == "Mapping"
    assert value("import urllib.parse as up\nup.quote('a b')") == "a%20b"


def test_typing_members_that_evaluate_strings_are_removed():
    assert isinstance(run("import typing\ntyping.get_type_hints").error, AttributeError)


def test_module_snapshots_are_shared_within_a_session():
    assert value("import math\nimport math as m2\nmath is m2") is True


def test_allow_list_is_configurable():
    from lmulator.config import Config
    from lmulator.engine.session import Session

    s = Session(Config(mode="python"), policy=Policy(allowed_modules=("math",)))
    assert s.run("import math\nmath.floor(2.5)").value == 2
    assert isinstance(s.run("import json").error, ImportError)


def test_import_error_names_the_allow_list():
    err = run("import os").error
    assert "not allowed by the policy" in str(err)
    assert "math" in str(err)


def test_ok_helper_round_trip():
    ok("import json\nassert json.loads('[1]') == [1]")


def test_sys_offers_only_output_streams_and_facts(capsys):
    ok("import sys\nprint('to stderr', file=sys.stderr)\nsys.stdout.write('x\\n')")
    assert capsys.readouterr().err == "to stderr\n"
    for name in ("modules", "settrace", "_getframe", "exit"):
        assert isinstance(
            run(f"import sys\nsys.{name}").error, (AttributeError, SyntaxError, PolicyError)
        )
    assert isinstance(refused("import sys\nsys.stdout.target = 1"), PolicyError)


def test_an_allowed_modules_own_c_code_may_import_its_helpers():
    """``datetime.strptime`` imports ``_strptime`` from C; the program itself still may not."""
    import sys

    sys.modules.pop("_strptime", None)  # its first use imports it
    got = value(
        "import datetime, time\n"
        "d = datetime.datetime.strptime('15/04/2021', '%d/%m/%Y')\n"
        "(d.month, d.day, time.strptime('2021', '%Y').tm_year)"
    )
    assert got == (4, 15, 2021)
    assert "not allowed by the policy" in str(refused("import _strptime"))
    assert "not allowed by the policy" in str(refused("from _strptime import _strptime_time"))


def test_only_an_import_from_c_code_of_a_module_where_python_ships_it(tmp_path, monkeypatch):
    from lmulator.policy.modules import from_library_code, is_standard_library

    assert from_library_code([]) and from_library_code(["__doc__"])
    assert not from_library_code(None) and not from_library_code(())
    assert not from_library_code(("x",)) and not from_library_code(["x"])
    assert is_standard_library("_strptime") and is_standard_library("json.decoder")
    assert not is_standard_library("numpy") and not is_standard_library("no_such_module")
    # A file a cell left behind, first on the path, is not the standard library's module.
    (tmp_path / "_pydecimal.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.invalidate_caches()
    import sys

    sys.modules.pop("_pydecimal", None)
    assert not is_standard_library("_pydecimal")
