import pytest

from lmulator.policy.policy import PolicyViolation
from lmulator.policy.refusals import PolicyError

from .helpers import refused, run, value


@pytest.mark.parametrize("call", ["exec('x = 1')", "eval('1 + 1')", "compile('1', 'f', 'eval')"])
def test_exec_eval_compile_are_refused(call):
    assert isinstance(refused(call), PolicyViolation)


def test_exec_by_another_name_is_not_a_builtin():
    assert isinstance(run("f = exec").error, NameError)


def test_common_builtins_work():
    assert value("sorted(zip([3, 1, 2], 'abc'))") == [(1, "b"), (2, "c"), (3, "a")]
    assert value("list(enumerate(map(str, filter(None, [0, 1, 2]))))") == [(0, "1"), (1, "2")]
    assert value("sum(range(5)), min(3, 1), max([2, 9]), abs(-2), round(2.567, 1)") == (
        10, 1, 9, 2, 2.6,
    )  # fmt: skip
    assert value("isinstance(1, int) and callable(len) and any([0, 1]) and all([])") is True


def test_type_one_argument_works_three_arguments_refused():
    assert value("type(1) is int") is True
    assert isinstance(refused("type('X', (), {})"), PolicyError)


def test_setattr_on_own_objects_works():
    assert value("class A:\n    pass\na = A()\nsetattr(a, 'v', 3)\na.v") == 3
    assert isinstance(refused("class A:\n    pass\nsetattr(A(), '_v', 3)"), PolicyError)


def test_print_goes_to_real_stdout(capsys):
    run("print('hello', 42)")
    assert capsys.readouterr().out == "hello 42\n"


def test_exceptions_are_available():
    assert (
        value("try:\n    raise ValueError('x')\nexcept ValueError as e:\n    m = str(e)\nm") == "x"
    )


def test_vars_shows_only_the_programs_own_objects_and_the_recursion_limit_is_capped():
    import sys

    from lmulator.policy.restricted_builtins import MAX_RECURSION_LIMIT

    before = sys.getrecursionlimit()
    try:
        assert refused("vars(object)") is not None
        assert refused("vars()") is not None
        assert value("import sys\nsys.setrecursionlimit(10**9)\nsys.getrecursionlimit()") == (
            MAX_RECURSION_LIMIT
        )
    finally:
        sys.setrecursionlimit(before)
