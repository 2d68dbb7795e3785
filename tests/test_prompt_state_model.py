"""Kept prompt states on a real model (the small SmolLM2): a prompt that loads a kept state gets
the same next token, with the same log-probability, and the same prompt log-probabilities, as
one evaluated without kept states (to rounding: the prefix is evaluated in other batches, so
longer greedy replies may part where two tokens are nearly tied)."""

import pytest

from lmulator.lm.local.model_files import SMOLLM2, model_file
from lmulator.lm.local.serve import install_states

pytestmark = pytest.mark.llm

EXEMPLARS = "Examples of programs that answer questions.\n" + "".join(
    f"# Question {i}: what is {i} times {i + 3}?\nanswer = {i} * {i + 3}\n" for i in range(20)
)
EMULATOR = "You stand in for Python functions nobody defined. " + "".join(
    f">>> capital_of({c!r})\n'{c}ville'\n" for c in ("Aland", "Borduria", "Syldavia") * 4
)


def llama():
    from llama_cpp import Llama

    return Llama(str(model_file(SMOLLM2)), n_ctx=2048, n_threads=2, logits_all=True, verbose=False)


@pytest.fixture(scope="module")
def pair():
    """A model with kept states and one without, the same file."""
    kept, plain = llama(), llama()
    return kept, install_states(kept, None, "ctx"), plain


def ask(model, prompt, **extra):
    return model.create_completion(prompt, max_tokens=1, temperature=0.0, **extra)


def next_token(model, prompt):
    """The greedy next token and its log-probability."""
    logprobs = ask(model, prompt, logprobs=1)["choices"][0]["logprobs"]
    return logprobs["tokens"][0], logprobs["token_logprobs"][0]


def test_kept_states_give_the_same_replies_for_fewer_evaluated_tokens(pair):
    kept, states, plain = pair
    prompts = []
    for q in range(3):
        prompts.append(f"{EXEMPLARS}# Question {q + 50}: what is {q} plus 1?\nanswer =")
        prompts.append(f"{EMULATOR}>>> capital_of('Kravia{q}')\n")
    for prompt in prompts:
        (mine, p), (theirs, q) = next_token(kept, prompt), next_token(plain, prompt)
        assert mine == theirs and p == pytest.approx(q, abs=1e-2)
    stats = states.snapshot()
    assert stats["requests"] == len(prompts)
    assert stats["loads"] >= 3 and stats["states_kept"] == 2
    assert stats["reused_tokens"] > stats["evaluated_tokens"]
    assert stats["reused_tokens"] + stats["evaluated_tokens"] == stats["prompt_tokens"]


def test_the_prompt_log_probabilities_are_right_after_a_load(pair):
    kept, states, plain = pair
    ask(kept, f"{EXEMPLARS}# Question 70: what is 2 plus 2?\nanswer =")
    ask(kept, f"{EMULATOR}>>> capital_of('Nowhere')\n")
    loads = states.stats.loads
    prompt = f"{EXEMPLARS}# Question 71: what is 3 plus 3?\nanswer ="
    mine = ask(kept, prompt, echo=True, logprobs=1)["choices"][0]["logprobs"]["token_logprobs"]
    theirs = ask(plain, prompt, echo=True, logprobs=1)["choices"][0]["logprobs"]["token_logprobs"]
    assert states.stats.loads == loads  # asked for its prompt's scores: evaluated afresh
    assert mine[1:] == pytest.approx(theirs[1:], abs=1e-3)


def test_a_fresh_model_starts_from_the_state_files_with_the_same_replies(tmp_path, pair):
    _, _, plain = pair
    writer = llama()
    written = install_states(writer, tmp_path, "ctx")
    for q in range(2):  # the exemplars recur: their state goes to disk
        ask(writer, f"{EXEMPLARS}# Question {q + 80}: what is {q} minus 1?\nanswer =")
    assert written.stats.disk_saves >= 1
    writer.close()
    fresh = llama()
    states = install_states(fresh, tmp_path, "ctx")
    prompt = f"{EXEMPLARS}# Question 90: what is 9 minus 1?\nanswer ="
    (mine, p), (theirs, q) = next_token(fresh, prompt), next_token(plain, prompt)
    assert mine == theirs and p == pytest.approx(q, abs=1e-2)
    stats = states.snapshot()
    assert stats["disk_loads"] == 1 and stats["reused_tokens"] > 10 * stats["evaluated_tokens"]
    fresh.close()
