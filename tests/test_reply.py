"""Reply parsing and validation: replies are data, checked key by key, never run."""

import datetime
import json

import pytest

from lmulator.errors import ReplyError
from lmulator.lm.literals import parse_literal
from lmulator.lm.reply import delta_schema, parse_delta_reply, parse_value_reply, value_schema


def test_value_reply_plain_json():
    assert parse_value_reply('{"value": [1, "a", null]}')[0] == [1, "a", None]


def test_value_reply_with_code_fence():
    assert parse_value_reply('```json\n{"value": 3}\n```')[0] == 3


def test_code_strings_stay_strings():
    payload = "__import__('os').system('id')"
    value, _ = parse_value_reply(json.dumps({"value": payload}))
    assert value == payload


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(1, 2)", (1, 2)),
        ("{1, 2}", {1, 2}),
        ("frozenset({3})", frozenset({3})),
        ("b'ab'", b"ab"),
        ("1+2j", 1 + 2j),
        ("-5", -5),
        ("datetime.date(2024, 2, 29)", datetime.date(2024, 2, 29)),
        ("{'k': (1, [2])}", {"k": (1, [2])}),
    ],
)
def test_py_literals(text, expected):
    assert parse_literal(text) == expected
    assert parse_value_reply(json.dumps({"value": {"$py": text}}))[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "open('/etc/passwd')",
        "(lambda: 1)()",
        "[x for x in range(3)]",
        "1 + 1",
        "os.system('id')",
        "datetime.date.today()",
        "'a' * 10**9",
        "{**{}}",
        "set(range(10**18))",
        "tuple(range(10**30))",
        "frozenset(range(200_000))",
    ],
)
def test_non_literal_py_payloads_are_refused(text):
    with pytest.raises(ReplyError):
        parse_literal(text)


def test_small_ranges_still_build():
    assert parse_literal("set(range(3))") == {0, 1, 2}
    assert parse_literal("range(1000000000000000000)") == range(10**18)  # lazy: nothing built


def test_deeply_nested_values_are_refused():
    deep = "[" * 100 + "]" * 100
    with pytest.raises(ReplyError):
        parse_value_reply('{"value": ' + deep + "}")
    with pytest.raises(ReplyError):
        parse_literal(deep)


def test_huge_replies_are_refused():
    with pytest.raises(ReplyError, match="longer than"):
        parse_value_reply('{"value": "' + "x" * 300_000 + '"}')


@pytest.mark.parametrize("content", ["", "null", "[1]", '{"val": 1}', "{not json", '{"delta": 1}'])
def test_malformed_value_replies(content):
    with pytest.raises(ReplyError):
        parse_value_reply(content)


ALLOWED = ("total", "word")
FORBIDDEN = ("print", "len")


def test_delta_reply_valid():
    delta, raw = parse_delta_reply('{"delta": {"total": 5}}', ALLOWED, FORBIDDEN)
    assert delta == {"total": 5} and raw == {"total": 5}


@pytest.mark.parametrize(
    "key",
    [
        "__builtins__",
        "_getattr_",
        "_lm_rt_",
        "print",
        "len",
        "class",
        "match",
        "not an id",
        "other",
    ],
)
def test_delta_keys_that_are_refused(key):
    with pytest.raises(ReplyError):
        reply = json.dumps({"delta": {"total": 1, key: 2}})
        parse_delta_reply(reply, ALLOWED + (key,), FORBIDDEN + ("other",))


def test_delta_is_all_or_nothing():
    with pytest.raises(ReplyError):
        parse_delta_reply('{"delta": {"total": 1, "sneaky": 2}}', ALLOWED, FORBIDDEN)


def test_schemas_have_the_documented_shape():
    assert list(value_schema()["properties"]) == ["value"]
    schema = delta_schema(["a", "b"])
    assert list(schema["properties"]) == ["delta"]
    assert list(schema["properties"]["delta"]["properties"]) == ["a", "b"]
    assert schema["properties"]["delta"]["additionalProperties"] is False
