from .helpers import ok


def test_trusted_policy_runs_plain_python():
    result = ok("import os\n_private = os.sep\n().__class__.__name__", policy="trusted")
    assert result.value == "tuple"


def test_trusted_policy_has_real_builtins():
    assert ok("eval('1 + 1')", policy="trusted").value == 2
