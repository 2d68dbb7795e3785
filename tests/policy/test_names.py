from lmulator.policy.policy import PolicyViolation

from .helpers import ok, refused, run, value


def test_plain_names_bind_and_read():
    assert value("total = 1\ntotal += 2\ntotal") == 3


def test_single_underscore_is_allowed():
    assert value("for _ in range(3): pass\n_") == 2


def test_a_programs_own_underscore_names_are_its_own():
    assert value("_secret = 1\n_helper = lambda: _secret + 1\n_helper()") == 2
    assert value("for __ in range(3):\n    pass\n__") == 2


def test_module_dunders_of_ordinary_programs():
    assert value("__author__ = 'me'\n__all__ = ['f']\n__author__, __all__") == ("me", ["f"])
    assert value("__name__ == '__main__'") is True


def test_the_interpreters_and_engines_names_are_refused():
    for source in ("__builtins__", "x = __import__", "__loader__", "__spec__ = 1",
                   "__build_class__", "__lmulator_stop__ = None"):  # fmt: skip
        assert isinstance(refused(source), PolicyViolation), source


def test_hook_names_cannot_be_rebound():
    assert isinstance(refused("_lm_rt_ = None"), PolicyViolation)
    assert isinstance(refused("import math as _getattr_"), PolicyViolation)


def test_global_and_nonlocal_declarations_work():
    ok(
        "def outer():\n    n = 0\n    def inc():\n        nonlocal n\n        n += 1\n    inc()\n    return n\nassert outer() == 1"
    )
    ok("count = 0\ndef bump():\n    global count\n    count += 1\nbump()\nassert count == 1")


def test_namespace_persists_between_cells():
    from lmulator.config import Config
    from lmulator.engine.session import Session

    s = Session(Config(mode="python"))
    s.run("x = 41")
    assert s.run("x + 1").value == 42
    assert "x" in s.user_names()
    assert not any(k.startswith("_") for k in s.user_names())


def test_syntax_errors_are_reported_not_raised():
    result = run("def broken(:\n  pass")
    assert isinstance(result.error, SyntaxError)
    assert result.trace and result.trace[0].status == "error"


def test_every_refusal_shares_one_base_and_is_never_emulated():
    from lmulator.errors import Refusal
    from lmulator.policy.policy import PolicyViolation
    from lmulator.policy.refusals import ImportRefused, PolicyError
    from lmulator.policy.writes import WriteRefused

    for kind in (PolicyError, ImportRefused, PolicyViolation, WriteRefused):
        assert issubclass(kind, Refusal)
    from lmulator.config import Config
    from lmulator.engine.session import Session

    session = Session(Config(mode="interweave", lm="off"))
    assert not session.emulates(WriteRefused("no")) and session.emulates(ValueError("x"))
