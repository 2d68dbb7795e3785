"""Evaluated prompt states kept in memory and on disk, so that prompts which take turns do
not make the embedded server evaluate their long shared prefixes again.

On 2 cores the 1.5B model reads ~25 prompt tokens a second. llama-cpp-python reuses only the
prefix a prompt shares with the *last* one evaluated, so in Chain of Code, where the program
prompt (system prompt and exemplars, 1-2k tokens) and the emulator's prompt (system prompt and
schema) take turns, each switch re-evaluates a long prefix. :class:`PromptStates` keeps a few
evaluated states (LRU, bounded by bytes) and, before a request is evaluated, loads the one that
covers most of its prompt. It keeps a new state only when that pays:

* a prefix that recurs: the prompt shares a long prefix with a recent prompt that no kept state
  covers (the exemplars before the question, the emulator's prompt before the call); the state
  is cut at exactly that prefix, so it holds nothing question-specific;
* a long new part: the prompt has many tokens no kept state, recent prompt nor the live context
  covers (a new task's exemplars, seen for the first time); the state is the prompt's. The first
  prompt of a server that has used no state file is kept if only it is not short.

A kept state is the model's KV cache for its tokens, without llama-cpp-python's ``scores`` (one
row of vocabulary-sized floats a token, ~600 KB a token here: 1.2 GB for a 2k-token prompt): the
server samples from the context's own logits and reads ``scores`` rows only for the generated
tokens, which are evaluated afresh; a request asking for its prompt's own log-probabilities
(``echo``) is evaluated from scratch (see :mod:`lmulator.lm.local.serve`).

States of recurring prefixes, and the first state of a server that has used no state file, are
also written to disk (:mod:`.state_files`, bounded in bytes); a prompt that a state file covers
better than any kept state loads it, so a fresh server (a new kernel, a new run) skips the
exemplars and the emulator's prompt this machine has evaluated before.
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .state_files import DISK_CAPACITY_BYTES, Kept, StateFiles, shared_prefix

__all__ = ["Kept", "LlamaModel", "PromptStates", "Stats", "shared_prefix"]

#: The bytes of kept states at most (each ~29 KB a token for Qwen2.5-Coder-1.5B at f16).
CAPACITY_BYTES = 512 << 20
#: The states kept at most.
MAX_STATES = 6
#: A kept state is loaded when it covers this many more prompt tokens than the live context.
MIN_GAIN = 16
#: A recurring prefix is kept when it extends the kept states' coverage by this many tokens.
MIN_SHARED = 64
#: A prompt's state is kept when this many of its tokens were new to every state and prompt.
MIN_NOVEL = 256
#: Recent prompts remembered to spot recurring prefixes.
RECENT = 8


@dataclass
class Stats:
    """What the states saved: prompt tokens reused and evaluated, loads and saves so far."""

    requests: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0
    loads: int = 0
    saves: int = 0
    disk_loads: int = 0  # states read from disk
    disk_saves: int = 0  # states written to disk
    states_kept: int = 0
    bytes_kept: int = 0
    cpu_ms: int = 0  # the server process's CPU time (unlike wall time, not slowed by neighbours)


class Model(Protocol):
    """The operations on a model's context that the states need."""

    def tokens(self) -> np.ndarray:
        """The tokens the context holds now."""

    def load(self, kept: Kept) -> None:
        """Make the context hold ``kept``."""

    def truncate(self, n: int) -> None:
        """Keep the context's first ``n`` tokens."""

    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the context's."""

    def capture(self) -> Kept:
        """The context's state now."""


class PromptStates:
    """A llama-cpp-python cache that loads the kept state covering most of a prompt, and keeps
    states of recurring prefixes; it does its work when consulted and never returns a state."""

    def __init__(
        self,
        model: Model,
        folder: Path | None = None,
        key: str = "ctx",
        capacity: int = CAPACITY_BYTES,
        max_states: int = MAX_STATES,
        disk_capacity: int = DISK_CAPACITY_BYTES,
    ) -> None:
        self.model = model
        self.disk = StateFiles(Path(folder) / key, disk_capacity) if folder is not None else None
        self.capacity = capacity
        self.max_states = max_states
        self.kept: OrderedDict[int, Kept] = OrderedDict()  # least recently used first
        self.recent: deque[np.ndarray] = deque(maxlen=RECENT)
        self.stats = Stats()
        self._next = 0
        self._disk_used = False  # this server has read or written a state file
        self.armed = False  # consulted once a completion: armed before it, unarmed after

    def __bool__(self) -> bool:
        return self.armed  # unarmed after the lookup: llama-cpp-python saves nothing

    def __contains__(self, key: Any) -> bool:
        return False

    def __getitem__(self, key: Sequence[int]) -> Any:
        self.armed = False
        try:
            self.prepare(key)
        except Exception as exc:
            print(f"prompt states: {exc!r}; evaluating from scratch", file=sys.stderr)
            self.model.truncate(0)
        raise KeyError("the context already holds what could be reused")

    def __setitem__(self, key: Any, state: Any) -> None:
        """States after completions are not kept (see :meth:`prepare`)."""

    def prepare(self, prompt: Sequence[int]) -> None:
        """Before ``prompt`` is evaluated: load the state that covers most of it, keep a state if
        one pays, and count the tokens reused and evaluated."""
        tokens = np.asarray(prompt, dtype=np.intc)
        n = len(tokens)
        live = shared_prefix(self.model.tokens(), tokens)
        best, covered = self._best(tokens)
        if self.disk is not None and self.max_states > 0:
            best, covered = self._from_disk(tokens, max(covered, live)) or (best, covered)
        base = live
        if best is not None and covered >= live + MIN_GAIN:
            self.model.load(self.kept[best])
            self.kept.move_to_end(best)
            self.stats.loads += 1
            base = covered
        if self.disk is not None and self.max_states > 0:
            self._save_reused(tokens, base)
        shared = min(max((shared_prefix(r, tokens) for r in self.recent), default=0), n - 1)
        cut = None
        if self.max_states > 0 and shared >= covered + MIN_SHARED:
            cut = shared  # a prefix that recurs and no kept state holds
        elif self.max_states > 0 and n - 1 - max(base, shared, covered) >= self._novel():
            cut = n - 1  # a long part never seen: maybe a new prompt family's prefix
        if cut is not None:
            self.model.truncate(min(base, cut))
            if base < cut:
                self.model.eval(tokens[base:cut].tolist())
            kept = self.model.capture()
            self.stats.saves += 1
            self._keep(kept)
            if self.disk is not None and (cut == shared or not self._disk_used):
                self._disk_used = True  # a recurring prefix, or a fresh server's first state
                self.disk.write(kept, slack=MIN_SHARED)
                self.stats.disk_saves += 1
        self.recent.append(tokens)
        reused = min(base, max(n - 1, 0))
        self.stats.requests += 1
        self.stats.prompt_tokens += n
        self.stats.reused_tokens += reused
        self.stats.evaluated_tokens += n - reused

    def _from_disk(self, tokens: np.ndarray, covered: int) -> tuple[int, int] | None:
        """The state file covering most of ``tokens``, read and kept, and how much it covers;
        None unless it covers more than ``covered`` (by the kept states or the live context)."""
        assert self.disk is not None
        name, on_disk = self.disk.best(tokens)
        kept = self.disk.read(name) if name is not None and on_disk >= covered + MIN_GAIN else None
        if kept is None:
            return None
        self._disk_used = True
        self.stats.disk_loads += 1
        return self._keep(kept), on_disk

    def _save_reused(self, tokens: np.ndarray, base: int) -> None:
        """Write the state of the ``base`` tokens this prompt reuses (a prefix that recurs) when
        it reaches past what the state files cover by a long part (a task's exemplars)."""
        assert self.disk is not None
        if base - self.disk.best(tokens)[1] < MIN_NOVEL:
            return
        self.model.truncate(base)
        self.disk.write(self.model.capture(), slack=MIN_SHARED)
        self._disk_used = True
        self.stats.disk_saves += 1

    def _novel(self) -> int:
        """New tokens that make a prompt's state worth keeping: fewer for the first prompt of a
        server that has used no state file, whose state a fresh server will start from."""
        return MIN_SHARED if self.disk is not None and not self._disk_used else MIN_NOVEL

    def snapshot(self) -> dict[str, int]:
        """The statistics so far, as a plain mapping."""
        self.stats.states_kept = len(self.kept)
        self.stats.bytes_kept = sum(k.nbytes for k in self.kept.values())
        self.stats.cpu_ms = int(time.process_time() * 1000)
        return asdict(self.stats)

    def _best(self, tokens: np.ndarray) -> tuple[int | None, int]:
        """The kept state sharing the longest prefix with ``tokens``, and that length."""
        best, covered = None, 0
        for ident, kept in self.kept.items():
            length = shared_prefix(kept.tokens, tokens)
            if length > covered:
                best, covered = ident, length
        return best, covered

    def _keep(self, new: Kept) -> int:
        """Keep ``new``; drop the states it (nearly) covers, then the least recently used;
        return its key."""
        for ident, kept in list(self.kept.items()):
            if len(kept.tokens) - shared_prefix(kept.tokens, new.tokens) < MIN_SHARED:
                del self.kept[ident]
        self._next += 1
        self.kept[self._next] = new
        while len(self.kept) > 1 and (
            len(self.kept) > self.max_states
            or sum(k.nbytes for k in self.kept.values()) > self.capacity
        ):
            self.kept.popitem(last=False)
        return self._next


class LlamaModel:
    """:class:`Model` for a ``llama_cpp.Llama``: its context's KV cache, without ``scores``."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama

    def tokens(self) -> np.ndarray:
        """The tokens the context holds now."""
        return self.llama.input_ids[: self.llama.n_tokens]

    def load(self, kept: Kept) -> None:
        """Make the context hold ``kept`` (its KV cache; ``scores`` rows are not restored)."""
        import llama_cpp

        llama = self.llama
        pointer = kept.data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        if llama_cpp.llama_state_set_data(llama.ctx, pointer, len(kept.data)) != len(kept.data):
            llama.reset()
            raise RuntimeError("failed to set the llama state")
        n = len(kept.tokens)
        llama.input_ids[:n] = kept.tokens
        llama.n_tokens = n
        llama._seed = kept.seed
        llama._requires_eval = True  # the logits are not restored: evaluate before sampling

    def truncate(self, n: int) -> None:
        """Keep the context's first ``n`` tokens."""
        llama = self.llama
        if n < llama.n_tokens:
            llama._ctx.kv_cache_seq_rm(-1, n, -1)
            llama.n_tokens = n
            llama._requires_eval = True

    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the context's."""
        self.llama.eval(tokens)

    def capture(self) -> Kept:
        """The context's state now (its KV cache and tokens)."""
        import llama_cpp

        llama = self.llama
        size = int(llama_cpp.llama_state_get_size(llama.ctx))
        data = np.empty(size, dtype=np.uint8)
        pointer = data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        used = int(llama_cpp.llama_state_get_data(llama.ctx, pointer, size))
        if used > size:
            raise RuntimeError("failed to copy the llama state")
        return Kept(tokens=self.tokens().copy(), data=data[:used], seed=int(llama._seed))
