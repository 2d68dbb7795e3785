"""The broker's streamed replies: what the runner sees of a program while the LM writes it, and
the runner's word that it stopped waiting (an interrupt), which stops the generation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import EmulationError
from ..lm.reply import MAX_REPLY_CHARS
from .dispatch import reply_id

#: Cancelled request ids kept: only the latest few can still be streaming.
KEPT_CANCELLED = 64


class Streams:
    """Streamed replies to one runner: their text so far goes out through ``post`` as
    ``chunk`` messages, each made of complete lines only and passed through ``scrub`` (a secret
    is whole by the end of its line); a request the runner cancelled stops at its next text."""

    def __init__(
        self, post: Callable[[dict[str, Any]], object], scrub: Callable[[str], str]
    ) -> None:
        self._post = post
        self._scrub = scrub
        self._lock = threading.Lock()
        self._cancelled: dict[Any, None] = {}

    def cancel(self, rid: Any) -> None:
        """The runner gave up request ``rid``."""
        rid = reply_id(rid)
        if rid is None:
            return
        with self._lock:
            self._cancelled[rid] = None
            while len(self._cancelled) > KEPT_CANCELLED:
                del self._cancelled[next(iter(self._cancelled))]

    def sink(self, rid: Any) -> Callable[[str], None]:
        """What request ``rid``'s text so far is handed to while the LM writes it."""
        sent = 0

        def on_text(text: str) -> None:
            nonlocal sent
            with self._lock:
                if rid in self._cancelled:
                    del self._cancelled[rid]
                    raise EmulationError("the runner stopped waiting for this reply")
            upto = text.rfind("\n") + 1
            if upto <= sent or upto > MAX_REPLY_CHARS:
                return
            sent = upto
            self._post({"op": "chunk", "id": rid, "text": self._scrub(text[:upto])})

        return on_text
