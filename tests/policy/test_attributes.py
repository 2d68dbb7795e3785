import pytest

from lmulator.policy import PolicyViolation

from .helpers import ok, refused, run, value


def test_public_attributes_read():
    assert value("'a,b'.split(',')") == ["a", "b"]


@pytest.mark.parametrize(
    "source",
    [
        "().__class__",
        "().__class__.__base__.__subclasses__()",
        "(lambda: 1).__globals__",
        "print.__self__",
        "x = 1\nx.__dict__",
    ],
)
def test_dunder_walks_are_refused_at_compile_time(source):
    assert isinstance(refused(source), PolicyViolation)


@pytest.mark.parametrize(
    "source",
    [
        "getattr((), '__class__')",
        "getattr((), '_' + '_class__')",
        "hasattr((), '__class__') or getattr(1, '__cl' + 'ass__')",
        "import operator\noperator.attrgetter('__class__')(1)",
        "import operator\noperator.attrgetter('real.__class__')(1)",
        "import operator\noperator.methodcaller('__reduce__')(1)",
    ],
)
def test_computed_dunder_names_are_refused_at_run_time(source):
    refused(source)


def test_hasattr_answers_false_for_private_names():
    assert value("hasattr((), '__class__')") is False
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


@pytest.mark.parametrize(
    "attr", ["gi_frame", "gi_code", "f_back", "f_globals", "tb_frame", "cr_frame", "ag_frame"]
)
def test_introspection_attributes_are_refused(attr):
    assert isinstance(refused(f"def g():\n    yield 1\nx = g().{attr}"), PolicyViolation)


def test_exception_obj_attribute_is_refused():
    # CVE-2024-47532: AttributeError.obj hands out the object whose access failed.
    refused("try:\n    (1).nothing\nexcept AttributeError as e:\n    leaked = e.obj")


def test_exception_public_attributes_still_work():
    assert (
        value("try:\n    (1).nothing\nexcept AttributeError as e:\n    n = e.name\nn") == "nothing"
    )


@pytest.mark.parametrize("name", ["vars", "globals", "locals", "open", "breakpoint", "help"])
def test_introspective_builtins_are_absent(name):
    assert isinstance(run(f"{name}()").error, NameError)
