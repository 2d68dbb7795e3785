"""LM deltas keyed by guards, builtins, hooks or keywords: refused whole, nothing applied."""

import pytest

from lmulator.errors import EmulationError

from .lm_attack import attempt


@pytest.mark.parametrize(
    "key",
    [
        "__builtins__",
        "_getattr_",
        "_write_",
        "_lm_rt_",
        "print",
        "len",
        "import",
        "class",
        "__import__",
    ],
)
def test_deltas_cannot_bind_guards_builtins_or_keywords(lm, session, key):
    s, before, result = attempt(lm, session, '{"delta": {"n": 1, "' + key + '": 0}}')
    assert isinstance(result.error, EmulationError)
    assert s.user_names() == before  # nothing applied, not even n
    assert s.run("len('still works') + n").value == 11


def test_deltas_cannot_bind_the_names_a_host_protects(lm, session):
    shell = object()

    def hosted():
        s = session()
        s.namespace["get_ipython"] = shell
        s.protected_names = frozenset({"get_ipython"})
        return s

    s, before, result = attempt(lm, hosted, '{"delta": {"n": 1, "get_ipython": 0}}')
    assert isinstance(result.error, EmulationError)
    assert s.namespace["get_ipython"] is shell
