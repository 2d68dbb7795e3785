"""The embedded server's kept prompt states: which state a prompt loads, which states are kept,
what is evicted, what reaches the disk, and the tokens counted as reused and evaluated."""

import numpy as np
import pytest

from lmulator.lm.local import prompt_state
from lmulator.lm.local.prompt_state import MIN_NOVEL, MIN_SHARED, Kept, PromptStates

BYTES_PER_TOKEN = 100


class FakeModel:
    """A context that records its tokens and counts the tokens it evaluates; a state's bytes
    are its tokens, repeated to ``BYTES_PER_TOKEN`` bytes a token."""

    def __init__(self):
        self.held: list[int] = []
        self.evaluated = 0
        self.loads: list[list[int]] = []

    def tokens(self):
        return np.array(self.held, dtype=np.intc)

    def load(self, kept):
        self.held = [int(t) for t in kept.tokens]
        self.loads.append(self.held[:])

    def truncate(self, n):
        del self.held[n:]

    def eval(self, tokens):
        self.held.extend(tokens)
        self.evaluated += len(tokens)

    def capture(self):
        data = np.zeros(len(self.held) * BYTES_PER_TOKEN, dtype=np.uint8)
        return Kept(tokens=self.tokens(), data=data, seed=3)

    def complete(self, states, prompt, reply=(7, 7)):
        """What the server does for one request: consult the states, evaluate, generate."""
        states.armed = True
        with pytest.raises(KeyError):
            states[prompt]
        assert not states  # llama-cpp-python would save nothing after the completion
        reuse = min(len(prompt) - 1, _common(self.held, prompt))
        self.truncate(reuse)
        self.eval(prompt[reuse:])
        self.eval(list(reply))


def _common(a, b):
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


EXEMPLARS = list(range(1000, 1000 + 600))  # the program prompt's long shared prefix
EMULATOR = list(range(5000, 5000 + 300))  # the emulator's prompt before the call


def program(q):
    return EXEMPLARS + [q] * 20


def emulation(c):
    return EMULATOR + [c] * 10


def coc_round(model, states, q):
    model.complete(states, program(q))
    for c in range(3):
        model.complete(states, emulation(100 * q + c))


def test_alternating_prompts_load_instead_of_evaluating():
    model, states = FakeModel(), PromptStates(FakeModel())
    states.model = model
    coc_round(model, states, 1)
    first = model.evaluated
    coc_round(model, states, 2)
    coc_round(model, states, 3)
    later = (model.evaluated - first) / 2
    # After the first round each prompt evaluates only its own part (and the replies).
    assert later == (20 + 2) + 3 * (10 + 2)
    kept = sorted(k.tokens[:10].tolist() for k in states.kept.values())
    assert kept == [EXEMPLARS[:10], EMULATOR[:10]]  # first seen long: kept at once
    stats = states.snapshot()
    assert stats["evaluated_tokens"] + stats["reused_tokens"] == stats["prompt_tokens"]
    assert stats["loads"] >= 4 and stats["states_kept"] == 2


def test_a_recurring_prefix_is_cut_where_the_prompts_part():
    model = FakeModel()
    states = PromptStates(model)
    prefix = list(range(MIN_NOVEL - 50))
    model.complete(states, prefix + [1] * 10)
    assert not states.kept  # short and seen once: not worth a copy
    model.complete(states, prefix + [2] * 10)
    assert [k.tokens.tolist() for k in states.kept.values()] == [prefix]
    model.complete(states, [9] * 5)
    before = model.evaluated
    model.complete(states, prefix + [3] * 10)
    assert model.evaluated - before == 10 + 2 and model.loads == [prefix]


def test_a_single_prefix_is_what_llama_cpp_alone_reuses():
    model = FakeModel()
    states = PromptStates(model, max_states=0)
    for q in (1, 2, 3):
        coc_round(model, states, q)
    assert not states.kept and states.stats.saves == 0
    stats = states.snapshot()
    # Every program prompt after an emulation evaluates the exemplars again.
    assert stats["evaluated_tokens"] > 3 * len(EXEMPLARS)


def test_a_long_new_prompt_is_kept_once_and_a_short_one_never():
    model = FakeModel()
    states = PromptStates(model)
    model.complete(states, list(range(MIN_NOVEL + 10)))
    assert states.stats.saves == 1
    assert len(next(iter(states.kept.values())).tokens) == MIN_NOVEL + 9  # the prompt, less one
    model.complete(states, [9] * 10)
    model.complete(states, [8] * 10)
    assert states.stats.saves == 1


def test_a_state_that_covers_another_replaces_it():
    model = FakeModel()
    states = PromptStates(model)
    base = list(range(MIN_NOVEL + 10))
    model.complete(states, base)
    longer = base[:-1] + list(range(20000, 20000 + MIN_NOVEL + 5))
    model.complete(states, longer)
    assert [len(k.tokens) for k in states.kept.values()] == [len(longer) - 1]


def test_states_are_evicted_least_recently_used_within_the_bytes():
    model = FakeModel()
    size = (MIN_NOVEL + 9) * BYTES_PER_TOKEN
    states = PromptStates(model, capacity=3 * size + 3 * (MIN_NOVEL + 9) * 4 + 10)
    families = [[f * 10000 + i for i in range(MIN_NOVEL + 10)] for f in range(1, 5)]
    for family in families[:3]:
        model.complete(states, family)
    assert len(states.kept) == 3
    model.complete(states, families[0] + [1])  # touches the first family's state
    model.complete(states, families[3])
    firsts = sorted(int(k.tokens[0]) for k in states.kept.values())
    assert firsts == [10000, 30000, 40000]  # the second, least recently used, went
    assert states.snapshot()["bytes_kept"] <= states.capacity


def test_the_count_of_states_is_bounded():
    model = FakeModel()
    states = PromptStates(model, max_states=2)
    for f in range(1, 5):
        model.complete(states, [f * 10000 + i for i in range(MIN_NOVEL + 10)])
    assert [int(k.tokens[0]) for k in states.kept.values()] == [30000, 40000]


def state_files(folder):
    return sorted((folder / "ctx").glob("*.npz"))


def test_a_fresh_server_starts_from_the_state_on_disk(tmp_path):
    model = FakeModel()
    states = PromptStates(model, tmp_path, "ctx")
    model.complete(states, program(1))
    assert len(state_files(tmp_path)) == 1  # the first state kept (long, new) is written
    model.complete(states, program(2))
    fresh_model = FakeModel()
    fresh = PromptStates(fresh_model, tmp_path, "ctx")
    fresh_model.complete(fresh, program(3))
    assert [state[: len(EXEMPLARS)] for state in fresh_model.loads] == [EXEMPLARS]
    assert fresh.stats.reused_tokens == len(EXEMPLARS) and fresh.stats.disk_loads == 1
    assert fresh_model.evaluated == 20 + 2
    fresh_model.complete(fresh, program(4))
    assert fresh.stats.saves == 0  # the disk state served: nothing new to keep


def test_recurring_prefixes_reach_the_disk_and_every_family_is_found_there(tmp_path):
    model = FakeModel()
    states = PromptStates(model, tmp_path, "ctx")
    families = [[f * 10000 + i for i in range(MIN_NOVEL + 100)] for f in range(1, 4)]
    for family in families:  # each seen twice: its prefix recurs
        model.complete(states, family + [1] * 10)
        model.complete(states, family + [2] * 10)
    on_disk = sorted(len(np.load(path)["input_ids"]) for path in state_files(tmp_path))
    # The server's first prompt (less its last token), then each later family's shared prefix.
    assert on_disk == [MIN_NOVEL + 100] * 2 + [MIN_NOVEL + 109]
    fresh_model = FakeModel()
    fresh = PromptStates(fresh_model, tmp_path, "ctx")
    for family in reversed(families):
        fresh_model.complete(fresh, family + [3] * 10)
    assert fresh.stats.disk_loads == 3
    assert fresh_model.evaluated == 3 * (10 + 2)  # only each question and its reply
    assert fresh.stats.saves == 0


def test_a_server_with_nothing_on_disk_saves_its_first_prompt(tmp_path):
    model = FakeModel()
    states = PromptStates(model, tmp_path, "ctx")
    model.complete(states, list(range(MIN_SHARED + 10)))  # one emulation, as setup.sh primes
    assert len(state_files(tmp_path)) == 1
    model.complete(states, list(range(500, 500 + MIN_SHARED + 10)))
    assert states.stats.saves == 1  # the next short prompt is not kept
    fresh_model = FakeModel()
    fresh = PromptStates(fresh_model, tmp_path, "ctx")
    fresh_model.complete(fresh, list(range(MIN_SHARED + 10)))
    assert fresh.stats.loads == 1 and fresh.stats.evaluated_tokens == 1


def test_an_unreadable_state_file_is_dropped(tmp_path):
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "0123.npz").write_bytes(b"not a numpy file")
    model = FakeModel()
    states = PromptStates(model, tmp_path, "ctx")
    model.complete(states, [1, 2, 3])
    assert not (tmp_path / "ctx" / "0123.npz").exists() and not states.kept


def test_no_kept_states_means_no_state_files(tmp_path):
    model = FakeModel()
    writer = PromptStates(FakeModel(), tmp_path, "ctx")
    writer.model.complete(writer, program(1))
    states = PromptStates(model, tmp_path, "ctx", max_states=0)
    model.complete(states, program(2))
    assert not model.loads and states.stats.disk_loads == 0


def test_a_failing_load_evaluates_from_scratch():
    class Broken(FakeModel):
        def load(self, kept):
            raise RuntimeError("no")

    model = Broken()
    states = PromptStates(model)
    states.kept[1] = Kept(tokens=np.arange(100, dtype=np.intc), data=np.zeros(4, np.uint8), seed=0)
    model.held = [5, 6]
    model.complete(states, list(range(120)))
    assert model.evaluated == 120 + 2


def test_shared_prefix():
    assert prompt_state.shared_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert prompt_state.shared_prefix([1, 2], [1, 2, 3]) == 2
    assert prompt_state.shared_prefix([], [1]) == 0
    assert prompt_state.shared_prefix(np.array([9]), [1]) == 0
    assert MIN_SHARED < MIN_NOVEL
