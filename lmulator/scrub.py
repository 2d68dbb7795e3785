"""Secrets by name, and texts with them taken out.

A secret is the API key, or the value of an environment variable whose name says it holds one
(``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD`` ...) and that is long enough not to be an
ordinary word. :class:`Scrubber` replaces every secret in a text with :data:`REDACTED`, and
also the start of one cut off at a text's end (an error message truncated mid-key) or the end
of one at a text's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Words that mark an environment variable as holding a secret (matched in its upper-cased name).
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
#: Values shorter than this are not treated as secrets (too likely to be ordinary text).
MIN_SECRET_CHARS = 8
#: A cut-off piece of a secret at a text's edge is taken out from this many characters on.
MIN_FRAGMENT_CHARS = 6
REDACTED = "[redacted]"


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says that it holds a secret."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def secret_values(env: Mapping[str, str], *extra: str | None) -> frozenset[str]:
    """The secrets in an environment (values of secret-named variables) and ``extra`` ones."""
    found = {v for k, v in env.items() if is_secret_name(k)}
    found.update(v for v in extra if v)
    return frozenset(v for v in found if len(v.strip()) >= MIN_SECRET_CHARS)


class Scrubber:
    """Takes a fixed set of secrets out of texts."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """``text`` with every secret, and any cut-off piece of one at its edges, redacted."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for secret in self.secrets:
            text = _cut_edges(text, secret)
        return text


def _cut_edges(text: str, secret: str) -> str:
    """``text`` less a start of ``secret`` at its end and an end of ``secret`` at its start."""
    for size in range(min(len(secret) - 1, len(text)), MIN_FRAGMENT_CHARS - 1, -1):
        if text.endswith(secret[:size]):
            text = text[:-size] + REDACTED
            break
    for size in range(min(len(secret) - 1, len(text)), MIN_FRAGMENT_CHARS - 1, -1):
        if text.startswith(secret[-size:]):
            text = REDACTED + text[size:]
            break
    return text
