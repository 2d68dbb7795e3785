"""Types fixed by use: the schema each expression's use asks for."""

import ast

import pytest

from lmulator.partial.expect import (
    ARRAY,
    BOOLEAN,
    NUMBER,
    STRING,
    from_annotation,
    infer_expectations,
    matches,
)


def expectation(source: str, expression: str):
    tree = ast.parse(source)
    found = infer_expectations(tree)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.expr) and ast.unparse(n) == expression]
    return next((found[id(n)] for n in nodes if id(n) in found), None)


@pytest.mark.parametrize(
    "source, expression, schema",
    [
        ("if is_fruit(x):\n    pass", "is_fruit(x)", BOOLEAN),
        ("for w in words(s):\n    pass", "words(s)", ARRAY),
        ("total = count(x) + 1", "count(x)", NUMBER),
        ("ok = not flag", "flag", BOOLEAN),
        ("n = sum(values(x))", "values(x)", ARRAY),
        ("y = name(x)", "name(x)", None),  # a plain assignment fixes nothing
    ],
)
def test_a_use_fixes_a_type(source, expression, schema):
    got = expectation(source, expression)
    assert (
        (got == schema) if schema is None else (got is not None and got["type"] == schema["type"])
    )


def test_annotations_name_types_and_values_are_checked_against_them():
    assert from_annotation(ast.parse("str", mode="eval").body) == STRING
    assert from_annotation(ast.parse("Widget", mode="eval").body) is None
    assert matches(True, BOOLEAN) and not matches("yes", BOOLEAN)
    assert matches([1], ARRAY) and not matches(1, ARRAY)
