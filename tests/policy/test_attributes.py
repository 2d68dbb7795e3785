import pytest

from .helpers import ok, run, value


def test_public_attributes_read():
    assert value("'a,b'.split(',')") == ["a", "b"]


def test_hasattr_answers_false_for_refused_and_private_names():
    assert value("hasattr(int, '__subclasses__')") is False
    assert value("hasattr(int, '_private')") is False
    assert value("hasattr((), '__class__')") is True  # x.__class__ is type(x)
    assert value("hasattr(int, '__class__')") is False  # but a metaclass is not available
    assert value("hasattr('x', 'upper')") is True


def test_getattr_with_default_on_public_name():
    assert value("getattr(3, 'missing', 'dflt')") == "dflt"
    assert value("getattr('ab', 'upper')()") == "AB"


def test_allowed_dunder_reads_work():
    ok(
        "class Base:\n    def __init__(self, n):\n        self.n = n\n"
        "class Child(Base):\n    def __init__(self, n):\n        super().__init__(n * 2)\n"
        "assert Child(2).n == 4\nassert Child.__name__ == 'Child'"
    )


def test_exception_public_attributes_still_work():
    assert (
        value("try:\n    (1).nothing\nexcept AttributeError as e:\n    n = e.name\nn") == "nothing"
    )


@pytest.mark.parametrize("name", ["globals", "locals", "open", "breakpoint", "help"])
def test_introspective_builtins_are_absent(name):
    assert isinstance(run(f"{name}()").error, NameError)


def test_vars_without_an_object_shows_no_namespace():
    assert "does not show namespaces" in str(run("vars()").error)
