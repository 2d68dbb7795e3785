"""Prompt evaluation that asks llama.cpp for the scores of each batch's last position only.

A model made with ``logits_all=True`` (needed for log-probabilities) has llama.cpp compute the
output layer for every prompt position, a vocabulary-sized row each (~150,000 floats for
Qwen2.5-Coder), and llama-cpp-python copies them all into ``scores``. A completion that does not
echo its prompt reads none of those rows but the last: sampling reads the context's own last
output, and the log-probabilities of the generated tokens start at the prompt's last row. On
2 cores the rows cost about a fifth of prompt evaluation. :class:`LastRowEval` replaces one
model's ``eval``: a batch of several tokens asks for its last row only and copies that row to
``scores``; a single token (generation) and any evaluation while :attr:`LastRowEval.full_rows` is
set (a request for its prompt's own log-probabilities) go to the original. Used by the embedded
model's server process only (:mod:`lmulator.lm.local.serve`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: What a llama-cpp-python model must have for :class:`LastRowEval` to stand in for its eval.
NEEDED = ("_ctx", "_batch", "n_batch", "n_tokens", "input_ids", "scores", "_n_vocab")


class LastRowEval:
    """``Llama.eval`` for one model, keeping only each batch's last row of scores."""

    def __init__(self, llama: Any, original: Callable[[Sequence[int]], None]) -> None:
        self.llama = llama
        self.original = original
        #: Set while a request needs every prompt position's scores.
        self.full_rows = False
        #: Prompt tokens evaluated this way (rows not computed), for tests and stats.
        self.tokens_evaluated = 0

    def __call__(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the model's current ones."""
        llama = self.llama
        if self.full_rows or len(tokens) < 2 or not getattr(llama, "_logits_all", False):
            self.original(tokens)
            return
        ctx = llama._ctx
        ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        for start in range(0, len(tokens), llama.n_batch):
            batch = tokens[start : start + llama.n_batch]
            n_past, count = llama.n_tokens, len(batch)
            llama._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)  # last row only
            ctx.decode(llama._batch)
            llama.input_ids[n_past : n_past + count] = batch
            row = np.ctypeslib.as_array(ctx.get_logits(), shape=(llama._n_vocab,))
            llama.scores[n_past + count - 1, :] = row
            llama.n_tokens += count
            llama._requires_eval = False
        self.tokens_evaluated += len(tokens)


def install(llama: Any) -> LastRowEval | None:
    """Make ``llama`` (one model) evaluate prompts as above; returns the evaluator, or None
    (nothing changed) where the model is not the shape this was written for."""
    if not all(hasattr(llama, name) for name in NEEDED) or isinstance(llama.eval, LastRowEval):
        return None
    if not hasattr(llama._batch, "set_batch") or not hasattr(llama._ctx, "get_logits"):
        return None
    evaluator = LastRowEval(llama, llama.eval)
    llama.eval = evaluator
    return evaluator
