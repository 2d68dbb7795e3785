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
