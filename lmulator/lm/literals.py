"""A parser for Python literals in LM replies: values JSON cannot hold. Never evaluates code."""

from __future__ import annotations

import ast
import datetime
import decimal
import fractions
import math
import re
from typing import Any, cast

from ..errors import ReplyError

MAX_LITERAL_CHARS = 20_000
MAX_LITERAL_DEPTH = 20
MAX_LITERAL_ITEMS = 100_000  # items a set(), frozenset() or tuple() may build from a range
# Every number a reply builds (JSON or $py, a literal or a constructor's result) has at most
# MAX_NUMBER_DIGITS significant decimal digits and a decimal exponent within MAX_EXPONENT; a
# number's text is checked before it is converted (Fraction('1e-99999999') would compute 10**1e8).
MAX_NUMBER_DIGITS = 1000
MAX_EXPONENT = 1000
MAX_INT_BITS = math.ceil(MAX_NUMBER_DIGITS * math.log2(10))
_NUMERIC = (decimal.Decimal, fractions.Fraction, complex)

# Constructors a literal may call, with literal arguments only.
_CONSTRUCTORS: dict[str, Any] = {
    "set": set,
    "frozenset": frozenset,
    "tuple": tuple,
    "complex": complex,
    "range": range,
    "datetime.date": datetime.date,
    "datetime.datetime": datetime.datetime,
    "datetime.time": datetime.time,
    "datetime.timedelta": datetime.timedelta,
    "date": datetime.date,
    "timedelta": datetime.timedelta,
    "Decimal": decimal.Decimal,
    "decimal.Decimal": decimal.Decimal,
    "Fraction": fractions.Fraction,
    "fractions.Fraction": fractions.Fraction,
}


def parse_literal(text: str) -> Any:
    """Parse a Python literal (tuple, set, bytes, complex, date, ...) from text."""
    if not isinstance(text, str):
        raise ReplyError("a $py literal must be a string")
    if len(text) > MAX_LITERAL_CHARS:
        raise ReplyError(f"$py literal longer than {MAX_LITERAL_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ReplyError(f"$py literal does not parse: {exc}") from None
    return _value(tree.body, 0)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _value(node: ast.AST, depth: int) -> Any:
    if depth > MAX_LITERAL_DEPTH:
        raise ReplyError("$py literal nested too deeply")
    d = depth + 1
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return check_text(node.value)
        return check_number(node.value)
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, d) for e in node.elts)
    if isinstance(node, ast.List):
        return [_value(e, d) for e in node.elts]
    if isinstance(node, ast.Set):
        return {_hashable(_value(e, d)) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ReplyError("$py literal may not unpack a dict")
        return {
            _hashable(_value(cast(ast.expr, k), d)): _value(v, d)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand, d)
        if not isinstance(operand, (int, float, complex)) or isinstance(operand, bool):
            raise ReplyError("$py literal: sign on a non-number")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = _value(node.left, d), _value(node.right, d)
        if isinstance(left, (int, float)) and isinstance(right, complex):
            return left + right if isinstance(node.op, ast.Add) else left - right
        raise ReplyError("$py literal: only complex numbers may use + or -")
    if isinstance(node, ast.Call):
        name = _name(node.func)
        ctor = _CONSTRUCTORS.get(name or "")
        if ctor is None:
            raise ReplyError(f"$py literal may not call {ast.unparse(node.func)!r}")
        args = [_value(a, d) for a in node.args]
        kwargs = {k.arg: _value(k.value, d) for k in node.keywords if k.arg is not None}
        if len(kwargs) != len(node.keywords):
            raise ReplyError("$py literal may not unpack arguments")
        if ctor in (set, frozenset, tuple):  # they materialise their argument: size it first
            for arg in args:
                try:
                    size = len(arg)
                except (TypeError, OverflowError):
                    size = MAX_LITERAL_ITEMS + 1
                if size > MAX_LITERAL_ITEMS:
                    raise ReplyError(f"$py literal: {name}(...) of more than "
                                     f"{MAX_LITERAL_ITEMS} items")  # fmt: skip
        if ctor in _NUMERIC:
            for arg in [*args, *kwargs.values()]:
                if isinstance(arg, str):
                    check_number_text(arg)
        try:
            return check_number(ctor(*args, **kwargs))
        except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:
            raise ReplyError(f"$py literal: {name}(...) failed: {exc}") from None
    raise ReplyError(f"$py literal contains {type(node).__name__}, which is not a literal")


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise ReplyError("$py literal: set element or dict key is not hashable") from None
    return value


def check_text(text: str) -> str:
    """Return ``text`` if it can be encoded as UTF-8; a lone surrogate raises ReplyError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ReplyError(
            f"the reply holds text that is not valid Unicode (a lone surrogate, "
            f"{text[exc.start]!r} at character {exc.start})"
        ) from None
    return text


def check_number(value: Any) -> Any:
    """Return ``value``; a number past the digit or exponent bounds raises ReplyError."""
    if isinstance(value, bool) or not isinstance(value, (int, decimal.Decimal, fractions.Fraction)):
        return value
    if isinstance(value, int):
        too_big = value.bit_length() > MAX_INT_BITS
    elif isinstance(value, fractions.Fraction):
        too_big = max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_INT_BITS
    elif value.is_finite():
        sign, digits, exponent = value.as_tuple()
        too_big = len(digits) > MAX_NUMBER_DIGITS or abs(int(exponent)) > MAX_EXPONENT
    else:
        too_big = False
    if too_big:
        raise ReplyError(
            f"the reply holds a number of more than {MAX_NUMBER_DIGITS} digits or an exponent "
            f"beyond ±{MAX_EXPONENT}"
        )
    return value


_EXPONENT = re.compile(r"[eE]\s*([+-]?[\d_]+)")


def check_number_text(text: str) -> str:
    """Return a number's text if the number it spells stays within the bounds; else ReplyError."""
    digits = sum(c.isdigit() for c in text)
    match = _EXPONENT.search(text)
    exponent = match.group(1).replace("_", "") if match else "0"
    if (
        digits > MAX_NUMBER_DIGITS
        or len(exponent.lstrip("+-0")) > len(str(MAX_EXPONENT))
        or (abs(int(exponent or "0")) > MAX_EXPONENT)
    ):
        raise ReplyError(
            f"$py literal: the number {text[:40]!r} has more than {MAX_NUMBER_DIGITS} digits "
            f"or an exponent beyond ±{MAX_EXPONENT}"
        )
    return text
