"""How well a confidence tells right answers from wrong ones: AUROC, and accuracy above a bar."""

from __future__ import annotations

from collections.abc import Sequence


def auroc(scores: Sequence[float], correct: Sequence[bool]) -> float | None:
    """The area under the ROC curve of ``scores`` as a predictor of ``correct``: the chance that
    a right answer, drawn at random, scores above a wrong one (a tie counts half). None when
    there is no right answer or no wrong one to compare."""
    if len(scores) != len(correct):
        raise ValueError("one score per answer")
    positives = sum(1 for c in correct if c)
    negatives = len(correct) - positives
    if positives == 0 or negatives == 0:
        return None
    # Mann-Whitney U from ranks; tied scores share the mean of the ranks they span.
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    rank_sum = sum(r for r, c in zip(ranks, correct, strict=True) if c)
    u = rank_sum - positives * (positives + 1) / 2
    return u / (positives * negatives)


def accuracy_above(
    scores: Sequence[float], correct: Sequence[bool], bar: float
) -> tuple[float | None, int]:
    """The share of right answers among those scoring at least ``bar``, and how many those
    are (None when none does)."""
    kept = [c for s, c in zip(scores, correct, strict=True) if s >= bar]
    return (sum(kept) / len(kept) if kept else None), len(kept)
