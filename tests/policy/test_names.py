from lmulator.policy import PolicyViolation

from .helpers import ok, refused, run, value


def test_plain_names_bind_and_read():
    assert value("total = 1\ntotal += 2\ntotal") == 3


def test_single_underscore_is_allowed():
    assert value("for _ in range(3): pass\n_") == 2


def test_names_starting_with_underscore_are_refused():
    err = refused("_secret = 1")
    assert isinstance(err, PolicyViolation)
    assert "starts with" in str(err)


def test_dunder_names_are_refused_on_read():
    assert isinstance(refused("__builtins__"), PolicyViolation)
    assert isinstance(refused("x = __import__"), PolicyViolation)


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
    from lmulator.executor import Session

    s = Session(Config(mode="python"))
    s.run("x = 41")
    assert s.run("x + 1").value == 42
    assert "x" in s.user_names()
    assert not any(k.startswith("_") for k in s.user_names())


def test_syntax_errors_are_reported_not_raised():
    result = run("def broken(:\n  pass")
    assert isinstance(result.error, SyntaxError)
    assert result.trace and result.trace[0].status == "error"
