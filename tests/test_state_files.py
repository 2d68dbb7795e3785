"""Prompt states on disk: named by their tokens, checked when read, bounded in bytes (least
recently used go first), and a state that covers another replaces it."""

import os

import numpy as np

from lmulator.lm.local.state_files import Kept, StateFiles, state_name


def kept(tokens, size=1000):
    return Kept(tokens=np.asarray(tokens, dtype=np.intc), data=np.full(size, 7, np.uint8), seed=5)


def test_a_written_state_reads_back_the_same(tmp_path):
    files = StateFiles(tmp_path)
    files.write(kept(range(100)))
    fresh = StateFiles(tmp_path)
    name, covered = fresh.best(np.arange(120, dtype=np.intc))
    assert name == state_name(np.arange(100)) and covered == 100
    state = fresh.read(name)
    assert state.tokens.tolist() == list(range(100)) and state.seed == 5
    assert state.data.tolist() == [7] * 1000


def test_the_best_file_shares_the_longest_prefix(tmp_path):
    files = StateFiles(tmp_path)
    files.write(kept(range(50)))
    files.write(kept([*range(40), *range(900, 960)]))
    assert files.best(np.array([*range(40), *range(900, 905)]))[1] == 45
    assert files.best(np.array(range(60)))[1] == 50
    assert files.best(np.array([9999]))[0] is None


def test_a_file_whose_tokens_do_not_match_its_name_is_removed(tmp_path):
    files = StateFiles(tmp_path)
    files.write(kept(range(100)))
    path = tmp_path / state_name(np.arange(100))
    os.replace(path, tmp_path / state_name(np.arange(99)))  # renamed: claims other tokens
    fresh = StateFiles(tmp_path)
    assert fresh.best(np.arange(100))[0] is None
    assert not list(tmp_path.glob("*.npz"))


def test_a_file_changed_after_the_index_was_read_is_refused(tmp_path):
    files = StateFiles(tmp_path)
    files.write(kept(range(100)))
    name = state_name(np.arange(100))
    np.savez(tmp_path / name, input_ids=np.arange(5, dtype=np.intc),
             llama_state=np.zeros(3, np.uint8), seed=np.int64(0))  # fmt: skip
    assert files.read(name) is None and not (tmp_path / name).exists()
    assert files.best(np.arange(100))[0] is None


def test_garbage_and_pickles_are_never_loaded(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"junk")
    np.savez(tmp_path / "b.npz", input_ids=np.array([object()], dtype=object))
    files = StateFiles(tmp_path)
    assert files.index() == {} and not list(tmp_path.glob("*.npz"))


def test_the_folder_keeps_within_its_bytes_dropping_the_least_recently_used(tmp_path):
    one = len(_bytes_of(tmp_path, kept(range(10), size=10_000)))
    files = StateFiles(tmp_path / "s", capacity=int(2.5 * one))
    files.write(kept(range(10), size=10_000))
    files.write(kept(range(100, 110), size=10_000))
    first = tmp_path / "s" / state_name(np.arange(10))
    old = first.stat().st_mtime - 100
    os.utime(tmp_path / "s" / state_name(np.arange(100, 110)), (old, old))  # older than first
    files.write(kept(range(200, 210), size=10_000))
    left = sorted(p.name for p in (tmp_path / "s").glob("*.npz"))
    assert left == sorted([state_name(np.arange(10)), state_name(np.arange(200, 210))])


def test_a_state_that_covers_another_replaces_it(tmp_path):
    files = StateFiles(tmp_path)
    files.write(kept([*range(100), 5000, 5001]))  # a prompt's state: its question's tokens last
    files.write(kept(range(100)), slack=16)  # the prefix that recurs: the question went
    assert [p.name for p in tmp_path.glob("*.npz")] == [state_name(np.arange(100))]


def _bytes_of(folder, state):
    StateFiles(folder / "probe").write(state)
    return next((folder / "probe").glob("*.npz")).read_bytes()
