"""The form a task's answers take (an option letter, Yes/No, a number, sorted words, ...), read
off example answers by rule; fitting an answer into that form, and a majority of answers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_LETTER = re.compile(r"\(([A-Z])\)")
_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)
_INTEGER = re.compile(r"-?\d+")
_CLOSERS = set(")]}>")
_WORD = re.compile(r"[a-z][a-z'&.-]*")
#: Two-label forms: the labels as a set, lower-case (their spelling comes from the examples).
_LABELS = {
    "yes_no": ("yes", "no"),
    "true_false": ("true", "false"),
    "valid_invalid": ("valid", "invalid"),
}


def options_of(question: str) -> dict[str, str]:
    """A multiple-choice question's options: letter -> text (``(A) circle`` lines)."""
    return {letter: text for letter, text in _OPTION_LINE.findall(question)}


def _plain(text: str) -> str:
    """Text compared loosely: case, spaces, surrounding quotes and a final period."""
    text = re.sub(r"\s+", " ", text).strip().strip("'\"").rstrip(".").strip()
    return text.lower()


def _sorted_words(text: str) -> bool:
    words = text.split()
    return bool(words) and all(_WORD.fullmatch(w) for w in words) and words == sorted(words)


@dataclass(frozen=True)
class AnswerForm:
    """What a task's answers look like: ``kind`` (``letter``, ``yes_no``, ``true_false``,
    ``valid_invalid``, ``integer``, ``dyck``, ``sorted_words`` or ``free``) and, for a two-label
    kind, the labels as the task spells them."""

    kind: str = "free"
    labels: tuple[str, ...] = ()

    @classmethod
    def of(cls, answers: Iterable[Any]) -> AnswerForm:
        """The form these example answers share (``free`` when they share none known)."""
        texts = [str(a).strip() for a in answers if str(a).strip()]
        if not texts:
            return cls()
        if all(_LETTER.fullmatch(t) for t in texts):
            return cls("letter")
        lowered = {t.lower() for t in texts}
        for kind, labels in _LABELS.items():
            if lowered <= set(labels):
                spelled = {t.lower(): t for t in texts}
                case = str.lower if all(t.islower() for t in texts) else str.capitalize
                return cls(kind, tuple(spelled.get(label, case(label)) for label in labels))
        if all(_INTEGER.fullmatch(t) for t in texts):
            return cls("integer")
        if all(set(t.split()) <= _CLOSERS for t in texts):
            return cls("dyck")
        if all(_sorted_words(t) and len(t.split()) > 1 for t in texts) and any(
            len(t.split()) > 2 for t in texts
        ):
            return cls("sorted_words")
        return cls()

    def describe(self, question: str = "") -> str:
        """What an answer of this form looks like, in words (for a message to the LM)."""
        if self.kind == "letter":
            letters = ", ".join(f"({x})" for x in sorted(options_of(question)))
            return f"one option letter in parentheses: {letters or 'such as (A)'}"
        if self.labels:
            return " or ".join(repr(label) for label in self.labels)
        return {
            "integer": "a whole number, such as 12 or -3",
            "dyck": "the closing brackets only, separated by spaces, such as ') ] >'",
            "sorted_words": "the words in alphabetical order, separated by spaces",
        }.get(self.kind, "a value")

    def fit(self, answer: Any, question: str = "") -> str | None:
        """The answer written in this form (an option's text as its letter, True as the task's
        Yes, 7.0 as 7), or None when it cannot be."""
        if answer is None:
            return None
        if self.kind == "free":
            return str(answer).strip() or None
        if self.kind == "letter":
            return self._letter(answer, question)
        if self.labels:
            if isinstance(answer, bool) and self.kind in ("yes_no", "true_false"):
                return self.labels[0] if answer else self.labels[1]
            spelled = {label.lower(): label for label in self.labels}
            return spelled.get(_plain(str(answer)))
        if isinstance(answer, bool):
            return None  # a truth value is no number, bracket or word here
        if self.kind == "integer":
            return _integer(answer)
        if isinstance(answer, (list, tuple)):
            text = " ".join(str(a) for a in answer)
        else:
            text = str(answer).strip()
        if self.kind == "dyck":
            closers = [c for c in text if not c.isspace()]
            return " ".join(closers) if closers and set(closers) <= _CLOSERS else None
        if self.kind == "sorted_words":
            words = _plain(text)
            return " ".join(words.split()) if _sorted_words(words) else None
        return None

    def _letter(self, answer: Any, question: str) -> str | None:
        options = options_of(question)
        text = str(answer).strip()
        match = re.fullmatch(r"\(?([A-Za-z])\)?\.?", text)
        if match and (not options or match.group(1).upper() in options):
            return f"({match.group(1).upper()})"
        match = re.fullmatch(r"\(([A-Z])\)[.:]?\s+(.+)", text, re.DOTALL)
        if match and _plain(options.get(match.group(1), "")) == _plain(match.group(2)):
            return f"({match.group(1)})"  # the letter with its own option's text
        wanted = _plain(text.removeprefix("(").removesuffix(")")) if text else ""
        found = [letter for letter, option in options.items() if _plain(option) == wanted]
        if not found:
            found = [letter for letter, option in options.items() if _plain(option) == _plain(text)]
        return f"({found[0]})" if len(found) == 1 else None


def _integer(answer: Any) -> str | None:
    try:
        number = float(str(answer).strip().rstrip("."))
    except ValueError:
        return None
    return str(int(number)) if number.is_integer() else None


def majority(answers: Iterable[str | None]) -> str | None:
    """The most frequent of the answers given (None for none); a tie goes to the one seen first."""
    counts = Counter(a for a in answers if a)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in counts if counts[a] == best)
