"""Evaluated prompt states kept in memory (and one on disk), so that prompts which take turns do
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
  prompt of a server with nothing on disk is kept if only it is not short.

A kept state is the model's KV cache for its tokens, without llama-cpp-python's ``scores`` (one
row of vocabulary-sized floats a token, ~600 KB a token here: 1.2 GB for a 2k-token prompt): the
server samples from the context's own logits and reads ``scores`` rows only for the generated
tokens, which are evaluated afresh; a request asking for its prompt's own log-probabilities
(``echo``) is evaluated from scratch (see :mod:`lmulator.lm.local.serve`). The first state kept
by a server whose disk state was not used is written to disk (``numpy.savez``, no pickle), and a
fresh server starts with it, so its first request skips the shared prefix.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

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
class Kept:
    """One evaluated state: the tokens it holds and the context's bytes (KV cache)."""

    tokens: np.ndarray
    data: np.ndarray
    seed: int

    @property
    def nbytes(self) -> int:
        """The memory this state takes."""
        return int(self.data.nbytes + self.tokens.nbytes)


@dataclass
class Stats:
    """What the states saved: prompt tokens reused and evaluated, loads and saves so far."""

    requests: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0
    loads: int = 0
    saves: int = 0
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


def shared_prefix(a: Any, b: Any) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    x, y = np.asarray(a), np.asarray(b)
    n = min(len(x), len(y))
    differ = np.flatnonzero(x[:n] != y[:n])
    return int(differ[0]) if len(differ) else n


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
    ) -> None:
        self.model = model
        self.path = Path(folder) / f"{key}.npz" if folder is not None else None
        self.capacity = capacity
        self.max_states = max_states
        self.kept: OrderedDict[int, Kept] = OrderedDict()  # least recently used first
        self.recent: deque[np.ndarray] = deque(maxlen=RECENT)
        self.stats = Stats()
        self._next = 0
        self._disk_id: int | None = None  # the kept state read from disk
        self._disk_pending = self.path is not None  # read on the first request
        self._disk_done = False  # this server has used or written the disk state
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
        if self._disk_pending:
            self._disk_pending = False
            self._read_disk()
        tokens = np.asarray(prompt, dtype=np.intc)
        n = len(tokens)
        live = shared_prefix(self.model.tokens(), tokens)
        best, covered = self._best(tokens)
        base = live
        if best is not None and covered >= live + MIN_GAIN:
            self.model.load(self.kept[best])
            self.kept.move_to_end(best)
            self.stats.loads += 1
            base = covered
            self._disk_done |= best == self._disk_id
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
            self._keep(self.model.capture())
        self.recent.append(tokens)
        reused = min(base, max(n - 1, 0))
        self.stats.requests += 1
        self.stats.prompt_tokens += n
        self.stats.reused_tokens += reused
        self.stats.evaluated_tokens += n - reused

    def _novel(self) -> int:
        """New tokens that make a prompt's state worth keeping: fewer for the first prompt of a
        server with nothing on disk, whose state a fresh server will start from."""
        first = self.path is not None and self._disk_id is None and not self._disk_done
        return MIN_SHARED if first else MIN_NOVEL

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

    def _keep(self, new: Kept) -> None:
        """Keep ``new``; drop the states it (nearly) covers, then the least recently used."""
        self.stats.saves += 1
        for ident, kept in list(self.kept.items()):
            if len(kept.tokens) - shared_prefix(kept.tokens, new.tokens) < MIN_SHARED:
                del self.kept[ident]
        self._next += 1
        self.kept[self._next] = new
        while self.kept and (
            len(self.kept) > self.max_states
            or sum(k.nbytes for k in self.kept.values()) > self.capacity
        ):
            self.kept.popitem(last=False)
        if self.path is not None and not self._disk_done:
            self._disk_done = True
            self._write_disk(new)

    def _read_disk(self) -> None:
        """Keep the state saved on disk, if there is a readable one."""
        assert self.path is not None
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                n_tokens = int(data["n_tokens"])
                size = int(data["llama_state_size"])
                kept = Kept(
                    tokens=data["input_ids"][:n_tokens].astype(np.intc),
                    data=data["llama_state"][:size].copy(),
                    seed=int(data["seed"]),
                )
        except (OSError, KeyError, ValueError):
            self.path.unlink(missing_ok=True)  # unreadable: evaluate from scratch, save anew
            return
        self._next += 1
        self._disk_id = self._next
        self.kept[self._next] = kept

    def _write_disk(self, kept: Kept) -> None:
        """Save ``kept`` as the state a fresh server starts with."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.npz")
        try:
            np.savez(
                partial,
                input_ids=kept.tokens,
                n_tokens=np.int64(len(kept.tokens)),
                llama_state=kept.data,
                llama_state_size=np.int64(len(kept.data)),
                seed=np.int64(kept.seed),
            )
            os.replace(partial, self.path)
        except OSError:
            partial.unlink(missing_ok=True)


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
