"""Reply schemas and the parsing and validation of LM replies. Replies are data, never code."""

from __future__ import annotations

import json
import keyword
from collections.abc import Collection
from typing import Any

from ..errors import ReplyError
from .literals import check_number, check_text, parse_literal

MAX_REPLY_CHARS = 200_000
MAX_DEPTH = 32
MAX_NODES = 50_000
PY_KEY = "$py"

# The JSON value a reply may carry: anything JSON, or {"$py": "<literal>"}.
VALUE_SCHEMA: dict[str, Any] = {}
# Without objects: small models given "any JSON" tend to answer {}.
SCALAR_OR_LIST_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
        },
    ]
}


def value_schema(expect: dict[str, Any] | None = None, any_object: bool = True) -> dict[str, Any]:
    """JSON schema of a reply to a value request, typed where the use fixes the type."""
    if expect:
        inner = expect
    else:
        inner = VALUE_SCHEMA if any_object else SCALAR_OR_LIST_SCHEMA
    return {
        "type": "object",
        "properties": {"value": inner},
        "required": ["value"],
        "additionalProperties": False,
    }


def delta_schema(keys: Collection[str], any_object: bool = True) -> dict[str, Any]:
    """JSON schema of a reply to a statement request that may bind ``keys``."""
    inner = VALUE_SCHEMA if any_object else SCALAR_OR_LIST_SCHEMA
    return {
        "type": "object",
        "properties": {
            "delta": {
                "type": "object",
                "properties": {k: inner for k in keys},
                "additionalProperties": False,
            }
        },
        "required": ["delta"],
        "additionalProperties": False,
    }


_DECODER = json.JSONDecoder(strict=False)


def check_reply_length(content: str) -> None:
    """ReplyError if ``content`` is longer than any reply is taken (``MAX_REPLY_CHARS``)."""
    if len(content) > MAX_REPLY_CHARS:
        raise ReplyError(f"the reply is longer than {MAX_REPLY_CHARS} characters")


def _load(content: str | None) -> Any:
    if content is None:
        raise ReplyError("the reply has no content")
    if not isinstance(content, str):
        raise ReplyError("the reply content is not text")
    check_reply_length(content)
    check_text(content)  # a lone surrogate could be neither cached, recorded nor sent on
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        if text.startswith("json"):
            text = text[4:]
        text = text.strip()
    try:
        # The first JSON value counts; prose a model adds after it is ignored.
        value, _ = _DECODER.raw_decode(text)
    except RecursionError:
        raise ReplyError("the reply is nested too deeply") from None
    except ValueError as exc:
        raise ReplyError(f"the reply is not valid JSON: {exc}") from None
    return value


def to_python(obj: Any) -> Any:
    """Turn a JSON reply value into a Python value, reading {"$py": ...} as a literal."""
    budget = [MAX_NODES]

    def walk(o: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ReplyError(f"the reply value has more than {MAX_NODES} elements")
        if depth > MAX_DEPTH:
            raise ReplyError(f"the reply value is nested deeper than {MAX_DEPTH}")
        if isinstance(o, dict):
            if set(o) == {PY_KEY}:
                return parse_literal(o[PY_KEY])
            return {check_text(k): walk(v, depth + 1) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v, depth + 1) for v in o]
        if isinstance(o, str):
            return check_text(o)
        return check_number(o)

    return walk(obj, 0)


def parse_value_reply(content: str | None) -> tuple[Any, Any]:
    """Parse a value reply; return (python value, raw JSON value)."""
    data = _load(content)
    if not isinstance(data, dict) or "value" not in data:
        raise ReplyError('the reply must be a JSON object with the key "value"')
    return to_python(data["value"]), data["value"]


def check_delta_key(key: object, allowed: Collection[str], forbidden: Collection[str]) -> str:
    """Validate one key of a delta; return it or raise ReplyError."""
    if not isinstance(key, str) or not key.isidentifier():
        raise ReplyError(f"delta key {key!r} is not an identifier")
    if keyword.iskeyword(key) or keyword.issoftkeyword(key):
        raise ReplyError(f"delta key {key!r} is a Python keyword")
    if key.startswith("_"):
        raise ReplyError(f"delta key {key!r} starts with '_'")
    if key in forbidden:
        raise ReplyError(f"delta key {key!r} names a builtin or guard")
    if key not in allowed:
        raise ReplyError(
            f"delta key {key!r} is not a name this statement uses "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})"
        )
    return key


def parse_delta_reply(
    content: str | None, allowed: Collection[str], forbidden: Collection[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a delta reply; return (python delta, raw JSON delta). All keys are checked first."""
    data = _load(content)
    if not isinstance(data, dict) or not isinstance(data.get("delta"), dict):
        raise ReplyError('the reply must be a JSON object with an object under "delta"')
    raw = data["delta"]
    for key in raw:
        check_delta_key(key, allowed, forbidden)
    return {k: to_python(v) for k, v in raw.items()}, raw
