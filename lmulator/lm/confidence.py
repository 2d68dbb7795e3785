"""How sure the LM was of a reply: one confidence per emulated value or delta, from the token
log-probabilities an endpoint returns.

The confidence of a reply is the probability the model gave to the exact text of its answer:
``exp`` of the sum of the log-probabilities of the tokens that spell the value of each member
of the reply object (``V`` in ``{"value": V}``, the whole object ``D`` in ``{"delta": D}``, so a
delta's names count as well as their values). The reply's own keys, braces and the whitespace
between them are the schema's, not the model's answer, and do not count; a token that spells
part of the value and part of the punctuation around it counts. The result is in [0, 1]: 0.9
means the model, reading the prompt, would have spelled this value nine times in ten.

Where the endpoint returned no log-probabilities, or they cannot be lined up with the reply's
text, the confidence is None: no number is ever made up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

_DECODER = json.JSONDecoder(strict=False)

#: (token text, its log-probability, its bytes when the endpoint gave them)
Token = tuple[str, float, bytes | None]


def checked_confidence(value: Any) -> float | None:
    """``value`` if it is a confidence (a real number in [0, 1]) or None; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"a confidence must be a number or null, not {type(value).__name__}")
    if not (0.0 <= value <= 1.0):  # NaN fails this too
        raise ValueError(f"a confidence must lie in [0, 1], got {value!r}")
    return float(value)


def confidence_or_none(value: Any) -> float | None:
    """``value`` if it is a confidence, else None (what a receiver keeps of a malformed one)."""
    try:
        return checked_confidence(value)
    except ValueError:
        return None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def value_spans(text: str) -> list[tuple[int, int]] | None:
    """The character spans of the values of the members of the JSON object ``text`` starts with
    (after whitespace or a ```json fence, as the reply parser allows); None if it is none."""
    i = _skip_space(text, 0)
    if text.startswith("```", i):
        i += 3
        if text.startswith("json", i):
            i += 4
        i = _skip_space(text, i)
    if not text.startswith("{", i):
        return None
    spans: list[tuple[int, int]] = []
    i = _skip_space(text, i + 1)
    if text.startswith("}", i):
        return spans
    try:
        while True:
            key, i = _DECODER.raw_decode(text, i)
            if not isinstance(key, str):
                return None
            i = _skip_space(text, i)
            if not text.startswith(":", i):
                return None
            start = _skip_space(text, i + 1)
            _, end = _DECODER.raw_decode(text, start)
            spans.append((start, end))
            i = _skip_space(text, end)
            if text.startswith("}", i):
                return spans
            if not text.startswith(",", i):
                return None
            i = _skip_space(text, i + 1)
    except (ValueError, RecursionError):
        return None


def _token_offsets(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]] | None:
    """Each token's byte span in ``text`` encoded as UTF-8; None if the tokens do not spell it.

    A token given without bytes is taken as its text's UTF-8; one whose text is empty (a part of
    a character some servers cannot show alone) takes no room of its own."""
    data = text.encode("utf-8")
    offsets: list[tuple[int, int]] = []
    at = 0
    for token, _, raw in tokens:
        piece = raw if raw is not None else token.encode("utf-8")
        if data[at : at + len(piece)] != piece:
            return None
        offsets.append((at, at + len(piece)))
        at += len(piece)
    return offsets if at == len(data) else None


def reply_confidence(text: str, tokens: Sequence[Token] | None) -> float | None:
    """The confidence of a reply (see the module's docstring), or None where it cannot be had."""
    if not tokens:
        return None
    spans = value_spans(text)
    offsets = _token_offsets(text, tokens)
    if not spans or offsets is None:
        return None
    byte_spans = [(len(text[:a].encode("utf-8")), len(text[:b].encode("utf-8"))) for a, b in spans]
    total = 0.0
    counted = 0
    for (start, end), (_, logprob, _) in zip(offsets, tokens, strict=True):
        if any(start < b and a < end for a, b in byte_spans):
            if not math.isfinite(logprob):
                return 0.0 if logprob == -math.inf else None
            total += min(0.0, logprob)
            counted += 1
    if counted == 0:
        return None
    return math.exp(total)


def tokens_from_logprobs(content: Any) -> list[Token] | None:
    """The tokens of a chat completion's ``choices[0].logprobs.content`` (objects or dicts),
    or None if it holds none or holds something else."""
    if not content or not isinstance(content, (list, tuple)):
        return None
    out: list[Token] = []
    for item in content:
        get = item.get if isinstance(item, dict) else lambda k, i=item: getattr(i, k, None)
        token, logprob, raw = get("token"), get("logprob"), get("bytes")
        if not isinstance(token, str) or isinstance(logprob, bool):
            return None
        if not isinstance(logprob, (int, float)):
            return None
        piece: bytes | None = None
        if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
            piece = bytes(raw)
        out.append((token, float(logprob), piece))
    return out


def describe_confidence(confidence: float | None) -> str:
    """How a confidence is shown: ``confidence 0.42``, or that the endpoint gave none."""
    if confidence is None:
        return "no confidence from the endpoint"
    return f"confidence {confidence:.2f}"
