"""The emulator: builds requests for the LM, asks it, parses and validates its replies."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, EmulationError, ReplyError
from .client import ChatClient, complete_scored
from .replay import ReplayBook
from .reply import delta_schema, parse_delta_reply, parse_value_reply, value_schema
from .request import MAX_CONTEXT_CHARS, Request, cap_context, make_memo_key

__all__ = ["MAX_CONTEXT_CHARS", "Emulator", "Exchange", "Request", "cap_context", "make_memo_key"]

MAX_STATE_NAMES = 24

PROMPT_STYLES = ("full", "compact")

SYSTEM_PROMPT = """\
You are an emulator of Python. A program is running; some piece of it cannot run \
as Python, because a function has no definition, a name is missing, or a statement \
failed. You give the result the program's author meant, as data.
Reply with one JSON object and nothing else.
- For a value request reply {"value": V}: V is the value the expression would have.
- For a statement request reply {"delta": {NAME: V, ...}}: the new values of the names \
the statement changes (leave out names it does not change).
V is plain JSON. For a tuple, set, bytes, complex number or date use {"$py": "<Python literal>"}.
Never reply with code to run: text that looks like code is kept as a string."""

# Short worked examples in the full style.
FEW_SHOT: list[tuple[str, str]] = [
    (
        "Value request.\nLine 2: `answer = is_fruit(item)`\nEmulate: is_fruit('apple')\n"
        'Reply as {"value": ...}.',
        '{"value": true}',
    ),
    (
        "Statement request.\nLine 4: `total += int(word)`\n"
        "It failed with: ValueError: invalid literal for int() with base 10: 'three'\n"
        "Known values:\n  total = 2\n  word = 'three'\n"
        'Reply as {"delta": {...}} using only: total, word.',
        '{"delta": {"total": 5}}',
    ),
]

# The compact style suits small models: one line of context, then the call, REPL-like.
COMPACT_SYSTEM_PROMPT = (
    "You are a Python interpreter. Given a function call, reply with the JSON value it "
    "returns. Given a statement, reply with the new values of the variables it changes."
)
COMPACT_FEW_SHOT: list[tuple[str, str]] = [
    ("Line 2: `ok = is_fruit(item)`\n>>> is_fruit('apple')", '{"value": true}'),
    ("Line 7: `capitals.append(get_capital(c))`\n>>> get_capital('Japan')", '{"value": "Tokyo"}'),
    ("Line 3: `n = count_words(text)`\n>>> count_words('the red car')", '{"value": 3}'),
    (
        "Line 5: `lang = get_language(country)`\n>>> get_language('Brazil')",
        '{"value": "Portuguese"}',
    ),
    (
        "Line 4: `total += int(word)`\nState: total = 2, word = 'three'\n"
        "Error: ValueError: invalid literal for int() with base 10: 'three'\n"
        ">>> new values of: total, word",
        '{"delta": {"total": 5}}',
    ),
]


# A definition with a body is code the LM reads instead of running (a function whose calls it
# predicts): its reply may be any JSON value, named type by type (llama.cpp's grammar turns an
# empty schema into "an object").
CODE_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array"},
        {"type": "object"},
    ]
}
CODE_ASK = (
    'The call runs the code above. Reply {"value": V} with the value it returns: V as JSON, '
    'or {"$py": "<Python literal>"} for a tuple, set, bytes or a dict with keys that are not '
    "strings."
)


def defines_code(definition: str | None) -> bool:
    """Whether ``definition`` is a function with a body to read (more than a stub's docstring,
    ``...``, ``pass`` or ``raise NotImplementedError``)."""
    if not definition:
        return False
    try:
        fn = ast.parse(definition).body[0]
    except (SyntaxError, IndexError):
        return False
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = fn.body[1:] if ast.get_docstring(fn, clean=False) is not None else fn.body
    if not body:
        return False
    if len(body) > 1:
        return True
    only = body[0]
    if isinstance(only, ast.Pass) or (
        isinstance(only, ast.Expr)
        and isinstance(only.value, ast.Constant)
        and only.value.value is Ellipsis
    ):
        return False
    if isinstance(only, ast.Raise) and only.exc is not None:
        exc = only.exc.func if isinstance(only.exc, ast.Call) else only.exc
        return not (isinstance(exc, ast.Name) and exc.id == "NotImplementedError")
    return True


def render_user_message(req: Request) -> str:
    """The user message for one request."""
    parts = [f"{'Value' if req.kind == 'value' else 'Statement'} request."]
    if req.context:
        parts.append(f"Program:\n```python\n{req.context}\n```")
    parts.append(f"Line {req.line}: `{req.statement}`")
    if defines_code(req.definition):
        parts.append(f"Definition (read it, do not run it):\n```python\n{req.definition}\n```")
        parts.append(CODE_ASK)
    elif req.definition:
        parts.append(f"Definition (no body to run):\n```python\n{req.definition}\n```")
    if req.kind == "value":
        parts.append(f"Emulate: {req.target}")
    if req.error:
        parts.append(f"It failed with: {req.error}")
    if req.state:
        shown = list(req.state.items())[:MAX_STATE_NAMES]
        parts.append("Known values:\n" + "\n".join(f"  {k} = {v}" for k, v in shown))
    if req.kind == "value":
        parts.append('Reply as {"value": ...}.')
    else:
        parts.append(
            f'Reply as {{"delta": {{...}}}} using only: {", ".join(req.keys) or "nothing"}.'
        )
    return "\n".join(parts)


def _doc_line(definition: str) -> str:
    """``# def f(x) -> bool: first docstring line`` for a stub, in one line."""
    try:
        fn = ast.parse(definition).body[0]
    except (SyntaxError, IndexError):
        return ""
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return ""
    header = f"def {fn.name}({ast.unparse(fn.args)})"
    if fn.returns is not None:
        header += f" -> {ast.unparse(fn.returns)}"
    doc = (ast.get_docstring(fn) or "").strip().splitlines()
    return f"# {header}: {doc[0]}" if doc else f"# {header}"


def render_compact_message(req: Request) -> str:
    """The user message for one request in the compact style."""
    parts = []
    if defines_code(req.definition):
        parts.append(f"```python\n{(req.definition or '').rstrip()}\n```\n{CODE_ASK}")
    elif req.definition:
        line = _doc_line(req.definition)
        if line:
            parts.append(line)
    if req.kind == "delta" or req.state:
        # A call carries its own arguments; the line is context a small model misreads.
        parts.append(f"Line {req.line}: `{req.statement}`")
    if req.state:
        shown = list(req.state.items())[:MAX_STATE_NAMES]
        parts.append("State: " + ", ".join(f"{k} = {v}" for k, v in shown))
    if req.error:
        parts.append(f"Error: {req.error}")
    if req.kind == "value":
        parts.append(f">>> {req.target}")
    else:
        parts.append(f">>> new values of: {', '.join(req.keys) or 'nothing'}")
    return "\n".join(parts)


# Worked examples for a call of code the LM reads (CRUXEval's own two, and one for the $py form),
# rendered as the request itself is.
CODE_EXAMPLES: list[tuple[str, str, str]] = [
    ("def f(n):\n    return n", "f(17)", '{"value": 17}'),
    ('def f(s):\n    return s + "a"', "f('x9j')", '{"value": "x9ja"}'),
    ("def f(a, b):\n    return (b, a)", "f(1, [2])", '{"value": {"$py": "([2], 1)"}}'),
]


def build_messages(req: Request, style: str = "full") -> list[dict[str, str]]:
    """The chat messages for one request: system prompt, examples, the request."""
    compact = style == "compact"
    messages = [{"role": "system", "content": COMPACT_SYSTEM_PROMPT if compact else SYSTEM_PROMPT}]
    render = render_compact_message if compact else render_user_message
    examples = COMPACT_FEW_SHOT if compact else FEW_SHOT
    if defines_code(req.definition):
        examples = [
            (render(Request("value", call, 1, call, definition=code)), reply)
            for code, call, reply in CODE_EXAMPLES
        ]
    for user, assistant in examples:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    messages.append({"role": "user", "content": render(req)})
    return messages


@dataclass
class Exchange:
    """One answered request: what was asked and what came back."""

    request: Request
    value: Any = None
    raw: Any = None
    delta: dict[str, Any] | None = None
    attempts: int = 0
    cached: bool = False
    ms: float = 0.0
    replayed: bool = False
    #: How sure the LM was of this reply, in [0, 1] (:mod:`lmulator.lm.confidence`); None where
    #: the endpoint gave no log-probabilities (or the reply was recorded without one).
    confidence: float | None = None


class Emulator:
    """Answers requests through a chat client, memoizing identical ones for the session."""

    def __init__(
        self,
        client: ChatClient | Callable[[], ChatClient] | None,
        *,
        max_attempts: int = 2,
        prompt_style: str = "full",
        book: ReplayBook | None = None,
    ) -> None:
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {prompt_style!r}")
        self._client = client
        self.max_attempts = max_attempts
        self.prompt_style = prompt_style
        self.memo: dict[str, Exchange] = {}
        self.book = book
        self.requests_sent = 0
        self.first_try_valid = 0
        self.replies_checked = 0
        self.on_start: Callable[[Request], None] | None = None
        self.on_end: Callable[[Request], None] | None = None

    @property
    def client(self) -> ChatClient:
        """The chat client, created on first use."""
        if self._client is None:
            raise EmulationError("no LM client is configured")
        if callable(self._client) and not hasattr(self._client, "complete"):
            try:
                self._client = self._client()
            except ConfigError as exc:
                raise EmulationError(str(exc)) from None
        return self._client  # type: ignore[return-value]

    def value(self, req: Request) -> Exchange:
        """Ask for the value of an expression."""
        expect = req.expect or (CODE_VALUE_SCHEMA if defines_code(req.definition) else None)
        schema = value_schema(expect, any_object=self.prompt_style == "full")
        return self._ask(req, schema, "value", parse_value_reply)

    def delta(self, req: Request, forbidden: Collection[str]) -> Exchange:
        """Ask for the state delta of a statement; every key is checked against the request."""
        allowed = frozenset(req.keys)
        return self._ask(
            req,
            delta_schema(req.keys, any_object=self.prompt_style == "full"),
            "delta",
            lambda content: parse_delta_reply(content, allowed, forbidden),
        )

    def _ask(self, req: Request, schema: dict, name: str, parse: Callable) -> Exchange:
        key = req.memo_key or make_memo_key(req.kind, req.target, req.definition, req.state)
        hit = self.memo.get(key)
        if hit is not None:
            return Exchange(
                hit.request, hit.value, hit.raw, hit.delta, 0, True, 0.0, hit.replayed,
                hit.confidence,
            )  # fmt: skip
        start = time.perf_counter()
        if self.book is not None and self.book.mode == "replay":
            content = self.book.lookup(req)
            try:
                parsed, raw = parse(content)
            except ReplyError as exc:
                raise EmulationError(f"the recorded reply does not fit: {exc}", req.line) from None
            ex = self._remember(key, req, parsed, raw, 0, start)
            ex.replayed = True
            ex.confidence = self.book.confidence(req)
            return ex
        if self.on_start is not None:
            self.on_start(req)
        try:
            return self._ask_lm(req, schema, name, parse, key, start)
        finally:
            if self.on_end is not None:
                self.on_end(req)

    def _remember(
        self, key: str, req: Request, parsed: Any, raw: Any, attempts: int, start: float
    ) -> Exchange:
        ex = Exchange(req, attempts=attempts, raw=raw)
        if req.kind == "value":
            ex.value = parsed
        else:
            ex.delta = parsed
        ex.ms = (time.perf_counter() - start) * 1000
        self.memo[key] = ex
        return ex

    def _ask_lm(
        self, req: Request, schema: dict, name: str, parse: Callable, key: str, start: float
    ) -> Exchange:
        messages = build_messages(req, self.prompt_style)
        error: ReplyError | None = None
        attempts = 0
        while attempts < self.max_attempts:
            attempts += 1
            confidence: float | None = None
            try:
                completion = complete_scored(self.client, messages, schema, name)
                content, confidence = completion.text, completion.confidence
            except EmulationError as exc:  # its kind kept: a spent budget is not a gap to fill
                raise type(exc)(exc.detail, req.line) from None
            except ReplyError as exc:
                content, error = None, exc
            finally:
                self.requests_sent += 1
            if content is not None:
                try:
                    parsed, raw = parse(content)
                except ReplyError as exc:
                    error = exc
                else:
                    if attempts == 1:
                        self.first_try_valid += 1
                        self.replies_checked += 1
                    if self.book is not None:
                        self.book.add(req, content, confidence)
                    ex = self._remember(key, req, parsed, raw, attempts, start)
                    ex.confidence = confidence
                    return ex
                if attempts == 1:
                    self.replies_checked += 1
                messages = messages + [
                    {"role": "assistant", "content": content[:2000]},
                    {
                        "role": "user",
                        "content": f"That reply was invalid: {error}. "
                        "Reply again with only a JSON object that fits the schema.",
                    },
                ]
        raise EmulationError(
            f"the LM gave no valid reply after {attempts} tries: {error}", req.line
        )
