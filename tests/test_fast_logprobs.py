"""The embedded server's log-probabilities, computed only where needed, are llama.cpp's own."""

from __future__ import annotations

import numpy as np
import pytest

from lmulator.lm.local.fast_logprobs import (
    LazyLogprobs,
    Row,
    RowPairs,
    install,
    lazy_logits_to_logprobs,
    row_zip,
    top_sorted,
)

llama = pytest.importorskip("llama_cpp.llama")


def test_lazy_rows_are_the_full_log_softmax():
    original = llama.Llama.logits_to_logprobs
    logits = np.random.default_rng(1).normal(size=(6, 50)).astype(np.single)
    full = original(logits)
    lazy = lazy_logits_to_logprobs(original)(logits)
    assert isinstance(lazy, LazyLogprobs) and len(lazy) == 6
    tail = lazy[2:]
    assert len(tail) == 4
    for got, want in zip(tail, full[2:], strict=True):
        assert isinstance(got, Row)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(lazy[0], full[0], rtol=1e-6, atol=1e-6)
    one = logits[0]  # a single row goes to the original, as before
    np.testing.assert_allclose(lazy_logits_to_logprobs(original)(one), original(one))


def test_the_top_entries_are_those_a_full_sort_gives():
    row = np.random.default_rng(2).permutation(np.arange(300, dtype=np.single)).view(Row)
    pairs = row_zip(row, range(len(row)))
    assert isinstance(pairs, RowPairs)
    assert list(pairs) == list(zip(row, range(len(row)), strict=True))
    want = list(sorted(zip(row, range(len(row)), strict=True), reverse=True))[:5]
    assert top_sorted(row_zip(row, range(len(row))), reverse=True)[:5] == want
    # anything else is zip's and sorted's own
    assert isinstance(row_zip([1, 2], range(2)), zip)
    assert top_sorted([3, 1, 2]) == [1, 2, 3]
    assert top_sorted(row_zip(row, range(len(row)))) == sorted(zip(row, range(300), strict=True))


def test_install_changes_only_llama_cpps_module_and_can_be_undone():
    original = llama.Llama.logits_to_logprobs
    undo = install()
    assert undo is not None
    try:
        assert llama.zip is row_zip and llama.sorted is top_sorted
        assert install() is None  # not twice
    finally:
        undo()
    assert llama.Llama.logits_to_logprobs is original
    assert "zip" not in vars(llama) and "sorted" not in vars(llama)


@pytest.mark.llm
def test_a_completion_gives_the_same_logprobs_with_and_without():
    from lmulator.lm.local.model import model_path

    model = llama.Llama(
        model_path=str(model_path()), logits_all=True, n_ctx=256, n_threads=2, verbose=False
    )

    def ask() -> dict:
        model.reset()
        out = model.create_completion(
            "def add(a, b):\n    return", max_tokens=5, temperature=0.0, logprobs=2
        )
        return out["choices"][0]["logprobs"]  # type: ignore[index]

    plain = ask()
    undo = install()
    assert undo is not None
    try:
        fast = ask()
    finally:
        undo()
    assert fast["tokens"] == plain["tokens"]
    np.testing.assert_allclose(fast["token_logprobs"], plain["token_logprobs"], atol=1e-5)
    for got, want in zip(fast["top_logprobs"], plain["top_logprobs"], strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), atol=1e-5)
