"""Hostile LM replies that used to break the engine (issue #21, family 7): text that is not valid
Unicode, numbers that take forever to build. Each ends in one clear error and the namespace is
kept; the bounds hold for every number the reply parser builds."""

import json
import time
from decimal import Decimal
from fractions import Fraction

import pytest

from lmulator.errors import EmulationError, ReplyError
from lmulator.lm.literals import MAX_EXPONENT, MAX_NUMBER_DIGITS, parse_literal
from lmulator.lm.reply import parse_delta_reply, parse_value_reply

from .lm_attack import attempt

LONE = "\ud800"


@pytest.mark.parametrize(
    "content",
    [
        '{"value": "' + LONE + '"}',  # raw in the reply text
        '{"value": "a\\ud800b"}',  # a JSON escape that decodes to one
        '{"value": {"k\\udfff": 1}}',  # in a key
        '{"value": ["ok", {"$py": "\'\\\\ud800\'"}]}',  # a Python escape inside $py
        '{"value": {"$py": "(\'\\\\udc80\',)"}}',
        '{"value": 1} trailing prose ' + LONE,
    ],
)
def test_text_that_is_not_valid_unicode_is_refused(content):
    with pytest.raises(ReplyError, match="not valid Unicode"):
        parse_value_reply(content)


def test_valid_unicode_outside_the_bmp_still_parses():
    assert parse_value_reply('{"value": "\\ud83d\\ude00 \u00e9"}')[0] == "\U0001f600 \u00e9"


@pytest.mark.parametrize(
    "literal",
    [
        "Fraction('1e-99999999')",
        "fractions.Fraction('1E+99999999')",
        "Fraction('1e-1_0000_0000')",
        "Fraction('1e-00000000000000000000099999999')",
        "Decimal('1e-99999999')",
        "Decimal('1e999999999999999999')",
        "Fraction(Decimal('1e-5000'))",
        "Decimal((0, (1,) * 2, 5000))",
        "Fraction(" + "9" * 1200 + ")",
        "0x" + "f" * 3000,
        "-0b" + "1" * 4000,
        "complex('1e99999999')",
        "Decimal('" + "7" * 1500 + "')",
        "Fraction('1/" + "3" * 1500 + "')",
        "range(0x" + "f" * 900 + ")",
    ],
)
def test_numbers_past_the_bounds_are_refused_at_once(literal):
    start = time.monotonic()
    with pytest.raises(ReplyError):
        parse_literal(literal)
    with pytest.raises(ReplyError):
        parse_value_reply(json.dumps({"value": {"$py": literal}}))
    assert time.monotonic() - start < 2


def test_json_integers_past_the_bound_are_refused():
    big = "9" * (MAX_NUMBER_DIGITS + 5)
    with pytest.raises(ReplyError, match="digits"):
        parse_value_reply('{"value": ' + big + "}")
    with pytest.raises(ReplyError, match="digits"):
        parse_delta_reply('{"delta": {"n": [1, ' + big + "]}}", {"n"}, set())


def test_numbers_within_the_bounds_still_parse():
    assert parse_literal(f"Fraction('1e-{MAX_EXPONENT}')") == Fraction(1, 10**MAX_EXPONENT)
    assert parse_literal("Decimal('1.5e-7')") == Decimal("1.5e-7")
    assert parse_literal("Fraction(3, 4)") == Fraction(3, 4)
    assert parse_literal(str(2**1000)) == 2**1000
    assert parse_value_reply('{"value": ' + "9" * MAX_NUMBER_DIGITS + "}")[0] == int(
        "9" * MAX_NUMBER_DIGITS
    )
    assert parse_value_reply('{"value": 1e308}')[0] == 1e308
    assert parse_literal("complex('1+2j')") == 1 + 2j


@pytest.mark.parametrize(
    "reply",
    [
        '{"delta": {"n": "\\ud800"}}',
        '{"delta": {"n": {"$py": "{\'\\\\udfff\': 1}"}}}',
        '{"delta": {"n": {"$py": "Fraction(\'1e-99999999\')"}}}',
        '{"delta": {"n": {"$py": "Decimal(\'1e999999999\')"}}}',
    ],
)
def test_a_hostile_reply_gives_one_error_and_keeps_the_namespace(lm, session, reply):
    start = time.monotonic()
    s, before, result = attempt(lm, session, reply)
    assert time.monotonic() - start < 10
    assert isinstance(result.error, EmulationError)
    assert "\n" not in str(result.error) and str(result.error).startswith("line 1:")
    assert s.user_names() == before
    assert s.run("w + '!'").value == "one!"
