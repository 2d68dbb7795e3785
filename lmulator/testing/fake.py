"""A chat client for logic tests: it answers by target, not by prompt wording, with no HTTP.

Tests of what the engine does with an answer (repairs, deltas, undo, provenance) use it; only the
tests of the HTTP path and of the prompts themselves talk to the scripted server.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import EmulationError
from ..usage import charge, check_budget


class FakeChatClient:
    """Answers value requests from ``values`` and statement requests from ``deltas``.

    A request is matched by the longest key that appears in its last user message (the
    question being asked; earlier messages are the prompt's examples): an expression such as
    ``get_country('Paris')`` or a name for a value, a statement's source for a delta. A request
    nothing matches is an EmulationError that names it. Every question is kept in ``asked``.
    """

    def __init__(
        self,
        values: dict[str, Any] | None = None,
        deltas: dict[str, dict[str, Any]] | None = None,
        text: str = "",
    ) -> None:
        self.values = dict(values or {})
        self.deltas = dict(deltas or {})
        self.text = text
        self.asked: list[str] = []

    @property
    def model(self) -> str:
        """The model name requests are sent for."""
        return "fake"

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """The reply to one value or delta request, as JSON text."""
        check_budget()
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        self.asked.append(question)
        charge(1, _words(messages), 1)
        wants_delta = "delta" in schema.get("properties", {})
        table: dict[str, Any] = self.deltas if wants_delta else self.values
        matches = [key for key in table if key in question]
        if not matches:
            kind = "statement" if wants_delta else "value"
            raise EmulationError(f"the fake client has no {kind} for: {question[-200:]!r}")
        answer = table[max(matches, key=len)]
        return json.dumps({"delta": answer} if wants_delta else {"value": answer})

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """The free-text reply (a program, a chain of thought): ``text``."""
        check_budget()
        self.asked.append(messages[-1]["content"] if messages else "")
        charge(1, _words(messages), len(self.text.split()))
        return self.text


def _words(messages: list[dict[str, str]]) -> int:
    """A request's prompt "tokens" as the fake client counts them: its words."""
    return sum(len(str(m.get("content", "")).split()) for m in messages)
