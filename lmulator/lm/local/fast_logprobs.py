"""llama-cpp-python's token log-probabilities, computed only where a reply needs them.

Asked for log-probabilities, llama-cpp-python (0.3) takes the log-softmax of the scores of every
position of the context, the prompt's included, and then sorts the whole vocabulary in Python
once for each generated token, to find its ``top_logprobs``: for a 150,000-token vocabulary that
is seconds a reply. :func:`install` gives the same numbers for less: the log-softmax of a row is
taken when that row is read (only the generated tokens' rows are), and the sort for the top
entries becomes a partial one (``numpy.argpartition``) over the row. Everything else is passed
to the originals unchanged, so a version that no longer computes them this way is unaffected.
Used by the embedded model's server process only (:mod:`lmulator.lm.local.serve`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

#: The most top entries the OpenAI API lets a request ask for.
MAX_TOP = 20


class Row(np.ndarray):
    """One position's log-probabilities over the vocabulary (a marked numpy row)."""


class RowPairs:
    """``zip(row, range(len(row)))`` for a :class:`Row`: iterates the same pairs, and lets
    :func:`top_sorted` pick the highest without sorting them all."""

    def __init__(self, row: Row) -> None:
        self.row = row

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        return builtins.zip(self.row, range(len(self.row)), strict=True)

    def top(self, count: int = MAX_TOP) -> list[tuple[Any, int]]:
        """The ``count`` highest (log-probability, token) pairs, highest first."""
        row = np.asarray(self.row)
        count = min(count, len(row))
        if count == 0:
            return []
        part = np.argpartition(-row, count - 1)[:count]
        best = part[np.argsort(-row[part], kind="stable")]
        return [(row[i], int(i)) for i in best]


class LazyLogprobs:
    """The log-softmax of each row of a score matrix, taken when the row is read."""

    def __init__(self, logits: np.ndarray, log_softmax: Callable[..., np.ndarray]) -> None:
        self.logits = logits
        self.log_softmax = log_softmax

    def __len__(self) -> int:
        return len(self.logits)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return LazyLogprobs(self.logits[index], self.log_softmax)
        return self._row(self.logits[index])

    def __iter__(self) -> Iterator[Row]:
        for row in self.logits:
            yield self._row(row)

    def _row(self, row: np.ndarray) -> Row:
        return np.asarray(self.log_softmax(row)).view(Row)


def lazy_logits_to_logprobs(
    original: Callable[..., np.ndarray],
) -> Callable[..., Any]:
    """``Llama.logits_to_logprobs`` that, for a matrix, returns its rows' log-softmax lazily."""

    def logits_to_logprobs(logits: Any, axis: int = -1) -> Any:
        if isinstance(logits, np.ndarray) and logits.ndim == 2 and axis in (-1, 1):
            return LazyLogprobs(logits, original)
        return original(logits, axis=axis)

    return logits_to_logprobs


def row_zip(*iterables: Iterable[Any], **options: Any) -> Any:
    """``zip``, except that a :class:`Row` zipped with its indices gives :class:`RowPairs`."""
    if (
        len(iterables) == 2
        and not options
        and isinstance(iterables[0], Row)
        and isinstance(iterables[1], range)
        and iterables[1] == range(len(iterables[0]))
    ):
        return RowPairs(iterables[0])
    return builtins.zip(*iterables, **options)  # noqa: B905 - zip's own defaults


def top_sorted(iterable: Iterable[Any], /, *, key: Any = None, reverse: bool = False) -> Any:
    """``sorted``, except that :class:`RowPairs` sorted highest first gives its top entries
    (llama-cpp-python keeps no more than ``top_logprobs`` of them)."""
    if isinstance(iterable, RowPairs) and key is None and reverse:
        return iterable.top()
    return builtins.sorted(iterable, key=key, reverse=reverse)


def install() -> Callable[[], None] | None:
    """Make llama-cpp-python's completions compute log-probabilities as above; return what
    undoes it, or None (nothing changed) where its module is not the shape this was written for
    or was changed already."""
    try:
        from llama_cpp import llama as module
    except ImportError:
        return None
    cls = getattr(module, "Llama", None)
    original = getattr(cls, "logits_to_logprobs", None)
    if cls is None or not callable(original) or "zip" in vars(module) or "sorted" in vars(module):
        return None
    cls.logits_to_logprobs = staticmethod(lazy_logits_to_logprobs(original))
    module.zip = row_zip  # type: ignore[attr-defined]  # module globals come before builtins
    module.sorted = top_sorted  # type: ignore[attr-defined]

    def undo() -> None:
        cls.logits_to_logprobs = staticmethod(original)
        del module.zip, module.sorted  # type: ignore[attr-defined]

    return undo
