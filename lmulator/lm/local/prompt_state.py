"""One evaluated prompt state kept on disk, so that a new embedded server skips the prompt
prefix every request shares (system prompt and examples).

On 2 cores the 1.5B model evaluates ~25 prompt tokens a second, so the first request of a fresh
server spends ~10 s on a prefix that never changes. llama-cpp-python's own disk cache saves a
state after *every* completion (~1 s each); this one loads once, when the server's first
request arrives, and saves once, after the first completion of a server that found nothing to
load; after that it reports itself empty and llama-cpp-python skips it. The state is stored as
plain arrays (``numpy.savez``, no pickle) and keyed by model file and context size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


class PrefixStateCache:
    """A llama-cpp-python cache that loads one saved state once and saves one state once."""

    def __init__(self, folder: Path, key: str) -> None:
        self.path = Path(folder) / f"{key}.npz"
        self.loaded = False
        self.saved = self.path.is_file()

    def __bool__(self) -> bool:
        return not (self.loaded and self.saved)

    def __contains__(self, key: Any) -> bool:
        return not self.loaded and self.path.is_file()

    def __getitem__(self, key: Any) -> Any:
        from llama_cpp.llama import LlamaState

        if self.loaded or not self.path.is_file():
            self.loaded = True
            raise KeyError(key)
        self.loaded = True
        try:
            with np.load(self.path, allow_pickle=False) as data:
                n_tokens = int(data["n_tokens"])
                if _shared_prefix(data["input_ids"][:n_tokens], key) * 2 < len(key):
                    self.saved = False  # the prompts changed since: save a new state
                return LlamaState(
                    input_ids=data["input_ids"].copy(),
                    scores=data["scores"].copy(),
                    n_tokens=n_tokens,
                    llama_state=data["llama_state"].tobytes(),
                    llama_state_size=int(data["llama_state_size"]),
                    seed=int(data["seed"]),
                )
        except (OSError, KeyError, ValueError):
            self.path.unlink(missing_ok=True)  # unreadable: evaluate from scratch, save anew
            self.saved = False
            raise KeyError(key) from None

    def __setitem__(self, key: Any, state: Any) -> None:
        self.loaded = True  # a completion happened: the context is warm from now on
        if self.saved:
            return
        self.saved = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.npz")
        try:
            np.savez(
                partial,
                input_ids=state.input_ids,
                scores=state.scores,
                n_tokens=np.int64(state.n_tokens),
                llama_state=np.frombuffer(state.llama_state, dtype=np.uint8),
                llama_state_size=np.int64(state.llama_state_size),
                seed=np.int64(state.seed),
            )
            os.replace(partial, self.path)
        except OSError:
            partial.unlink(missing_ok=True)


def _shared_prefix(saved: Any, tokens: Any) -> int:
    """How many leading tokens ``saved`` and ``tokens`` have in common."""
    count = 0
    for a, b in zip(saved, tokens, strict=False):
        if int(a) != int(b):
            break
        count += 1
    return count
