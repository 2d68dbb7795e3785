"""The type a value must have where its use fixes it, as a JSON schema fragment.

``if is_fruit(x):`` wants a boolean, ``total += count(x)`` a number, ``for w in words(s):``
an array. The schema goes into the request, so constrained decoding yields a value of the
right type even from a small model.
"""

from __future__ import annotations

import ast
from typing import Any

BOOLEAN: dict[str, Any] = {"type": "boolean"}
INTEGER: dict[str, Any] = {"type": "integer"}
NUMBER: dict[str, Any] = {"type": "number"}
STRING: dict[str, Any] = {"type": "string"}
ARRAY: dict[str, Any] = {"type": "array"}
OBJECT: dict[str, Any] = {"type": "object"}
SIZED: dict[str, Any] = {"anyOf": [ARRAY, STRING]}
SLICED: dict[str, Any] = {"anyOf": [STRING, ARRAY]}  # x[a:b] is more often text

_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ITERABLE_ARG = {
    "sorted",
    "set",
    "list",
    "tuple",
    "enumerate",
    "reversed",
    "frozenset",
    "any",
    "all",
}
_NUMERIC_ITERABLE_ARG = {"sum"}
_ANNOTATIONS: dict[str, dict[str, Any]] = {
    "bool": BOOLEAN,
    "int": INTEGER,
    "float": NUMBER,
    "str": STRING,
    "list": ARRAY,
    "tuple": ARRAY,
    "set": ARRAY,
    "dict": OBJECT,
    "List": ARRAY,
    "Tuple": ARRAY,
    "Set": ARRAY,
    "Dict": OBJECT,
}


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    )


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def from_annotation(node: ast.AST | None) -> dict[str, Any] | None:
    """The schema a return or variable annotation names, if it is a simple builtin type."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(node, ast.Name):
        return _ANNOTATIONS.get(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        outer = _ANNOTATIONS.get(node.value.id)
        if outer is ARRAY and not isinstance(node.slice, ast.Tuple):
            inner = from_annotation(node.slice)
            return {"type": "array", "items": inner} if inner else ARRAY
        return outer
    return None


def infer_expectations(tree: ast.AST) -> dict[int, dict[str, Any]]:
    """Map id(expression) to the schema its use fixes, for every expression where one does."""
    out: dict[int, dict[str, Any]] = {}

    def want(node: ast.AST | None, schema: dict[str, Any]) -> None:
        if node is not None:
            out.setdefault(id(node), schema)

    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            want(node.test, BOOLEAN)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                want(v, BOOLEAN)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            want(node.operand, BOOLEAN)
        elif isinstance(node, ast.comprehension):
            want(node.iter, ARRAY)
            for cond in node.ifs:
                want(cond, BOOLEAN)
        elif isinstance(node, ast.For):
            want(node.iter, ARRAY)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC):
            if _is_number(node.left):
                want(node.right, NUMBER)
            if _is_number(node.right):
                want(node.left, NUMBER)
            if out.get(id(node)) is NUMBER:  # a number is made of numbers (parents come first)
                want(node.left, NUMBER)
                want(node.right, NUMBER)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            want(node.value, NUMBER)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, op, right = node.left, node.ops[0], node.comparators[0]
            if isinstance(op, (ast.In, ast.NotIn)):
                if _is_str(left):
                    want(right, {"anyOf": [ARRAY, STRING, OBJECT]})
                else:
                    want(right, {"anyOf": [ARRAY, OBJECT]})
            elif isinstance(op, (*_ORDERING, ast.Eq, ast.NotEq)):
                for a, b in ((left, right), (right, left)):
                    if _is_number(a):
                        want(b, NUMBER)
                    elif _is_str(a) and isinstance(op, (ast.Eq, ast.NotEq)):
                        want(b, STRING)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
            fn, first = node.func.id, node.args[0]
            if fn == "len":
                want(first, SIZED)
            elif fn in _ITERABLE_ARG:
                want(first, ARRAY)
            elif fn in _NUMERIC_ITERABLE_ARG:
                want(first, {"type": "array", "items": NUMBER})
            elif fn in ("max", "min") and len(node.args) == 1:
                want(first, ARRAY)
            elif fn == "range":
                for a in node.args:
                    want(a, INTEGER)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            schema = from_annotation(node.annotation)
            if schema:
                want(node.value, schema)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if _is_str(node.slice):
                want(node.value, OBJECT)
            elif isinstance(node.slice, ast.Slice):
                want(node.value, SLICED)
            elif _is_number(node.slice):
                want(node.value, SIZED)
    return out


def matches(value: Any, schema: dict[str, Any] | None) -> bool:
    """Whether a Python value has the JSON type a schema fragment asks for."""
    if not schema:
        return True
    if "anyOf" in schema:
        return any(matches(value, s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        if not isinstance(value, (list, tuple, set, frozenset)):
            return False
        items = schema.get("items")
        return all(matches(v, items) for v in value) if items else True
    if kind == "object":
        return isinstance(value, dict)
    return True
