"""Last-row prompt evaluation on a real model (the small SmolLM2): the same replies and the same
log-probabilities as llama-cpp-python's own evaluation, without the prompt's other rows."""

from __future__ import annotations

import numpy as np
import pytest

from lmulator.lm.local.last_row import LastRowEval, install

pytestmark = pytest.mark.llm

PROMPT = "Numbers and their squares.\n" + "".join(f"{i} squared is {i * i}.\n" for i in range(40))


def llama():
    from llama_cpp import Llama

    from lmulator.lm.local.model_files import SMOLLM2, model_file

    return Llama(
        str(model_file(SMOLLM2)),
        n_ctx=512,
        n_batch=64,  # the prompt spans several batches
        n_threads=2,
        logits_all=True,
        verbose=False,
    )


@pytest.fixture(scope="module")
def pair():
    """A model evaluating prompts by last rows and one evaluating them all, the same file."""
    fast, plain = llama(), llama()
    evaluator = install(fast)
    assert isinstance(evaluator, LastRowEval)
    yield fast, evaluator, plain
    for model in (fast, plain):
        model.close()  # their score tables (~100 MB each) are not left for a later test's GC


def reply(model, prompt, **extra):
    model.reset()
    out = model.create_completion(prompt, max_tokens=6, temperature=0.0, logprobs=3, **extra)
    return out["choices"][0]


def test_the_same_reply_and_logprobs_with_no_other_prompt_rows(pair):
    fast, evaluator, plain = pair
    fast.scores[:] = np.nan  # rows nobody computes stay as they were
    before = evaluator.tokens_evaluated
    mine, theirs = reply(fast, PROMPT), reply(plain, PROMPT)
    assert mine["text"] == theirs["text"] and mine["text"].strip()
    got, want = mine["logprobs"], theirs["logprobs"]
    assert got["tokens"] == want["tokens"]
    np.testing.assert_allclose(got["token_logprobs"], want["token_logprobs"], atol=1e-3)
    for g, w in zip(got["top_logprobs"], want["top_logprobs"], strict=True):
        assert g.keys() == w.keys()
    n = len(fast.tokenize(PROMPT.encode()))
    assert evaluator.tokens_evaluated - before == n  # the prompt went through last-row eval
    computed = np.flatnonzero(~np.isnan(fast.scores[:n, 0]))
    assert computed.tolist() == [*range(63, n - 1, 64), n - 1]  # each batch's last row only


def test_full_rows_when_the_prompt_scores_are_asked_for(pair):
    fast, evaluator, plain = pair
    evaluator.full_rows = True
    try:
        mine = reply(fast, PROMPT, echo=True)["logprobs"]["token_logprobs"]
    finally:
        evaluator.full_rows = False
    theirs = reply(plain, PROMPT, echo=True)["logprobs"]["token_logprobs"]
    assert mine[1:] == pytest.approx(theirs[1:], abs=1e-3)


def test_install_once_and_only_on_a_model():
    assert install(object()) is None
    model = llama()
    try:
        assert install(model) is not None
        assert install(model) is None  # already installed: left as it is
    finally:
        model.close()
