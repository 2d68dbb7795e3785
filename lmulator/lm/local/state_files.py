"""Evaluated prompt states on disk: a folder of files, one state each, that a fresh embedded
server starts from, so that a task's exemplars or the emulator's prompt, once evaluated on this
machine, are not evaluated again after a restart (a new kernel, a new CLI run, a new bench run).

Each file is a ``numpy.savez`` archive (no pickle) of a state's tokens, its KV cache bytes and
its seed, named by the SHA-256 of its tokens; a file whose tokens do not hash to its name, or
that cannot be read, is removed. The folder is bounded in bytes: after a write the files used
least recently (by modification time, touched when read) are removed until it fits. Writes go
through a file of the writer's own and an atomic rename, so servers may share the folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The bytes of state files kept at most (a 1.5k-token state is ~45 MB for the 1.5B model).
DISK_CAPACITY_BYTES = 2 << 30
SUFFIX = ".npz"


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


def shared_prefix(a: Any, b: Any) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    x, y = np.asarray(a), np.asarray(b)
    n = min(len(x), len(y))
    differ = np.flatnonzero(x[:n] != y[:n])
    return int(differ[0]) if len(differ) else n


def state_name(tokens: np.ndarray) -> str:
    """The file name of the state holding ``tokens``."""
    digest = hashlib.sha256(np.asarray(tokens, dtype=np.intc).tobytes()).hexdigest()
    return digest[:40] + SUFFIX


class StateFiles:
    """The state files in one folder: their tokens (read once), the one covering most of a
    prompt, reading one, writing one within the bytes."""

    def __init__(self, folder: Path, capacity: int = DISK_CAPACITY_BYTES) -> None:
        self.folder = Path(folder)
        self.capacity = capacity
        self._index: dict[str, np.ndarray] | None = None  # file name -> tokens

    def index(self) -> dict[str, np.ndarray]:
        """The files' tokens, read on first use (only the tokens: the archives are lazy)."""
        if self._index is None:
            self._index = {}
            if self.folder.is_dir():
                for path in sorted(self.folder.glob("*" + SUFFIX)):
                    tokens = self._tokens(path)
                    if tokens is not None:
                        self._index[path.name] = tokens
        return self._index

    def best(self, tokens: np.ndarray) -> tuple[str | None, int]:
        """The file sharing the longest prefix with ``tokens``, and that length."""
        best, covered = None, 0
        for name, held in self.index().items():
            length = shared_prefix(held, tokens)
            if length > covered:
                best, covered = name, length
        return best, covered

    def read(self, name: str) -> Kept | None:
        """The state in file ``name``, or None (and the file forgotten) when it is unusable."""
        path = self.folder / name
        try:
            with np.load(path, allow_pickle=False) as data:
                kept = Kept(
                    tokens=data["input_ids"].astype(np.intc),
                    data=data["llama_state"].astype(np.uint8, copy=True),
                    seed=int(data["seed"]),
                )
            if state_name(kept.tokens) != name:
                raise ValueError("the tokens do not match the file's name")
            os.utime(path)  # used: the last to be removed
        except (OSError, KeyError, ValueError):
            self._drop(name)
            return None
        return kept

    def write(self, kept: Kept, slack: int = 0) -> None:
        """Save ``kept`` (unless a file holds it already), remove the files it covers but for
        fewer than ``slack`` tokens, then those used least recently until the folder fits."""
        name = state_name(kept.tokens)
        index = self.index()
        if name in index:
            return
        for other, held in list(index.items()):
            if len(held) - shared_prefix(held, kept.tokens) < slack:
                self._drop(other)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        partial = self.folder / f".{name}.{os.getpid()}{SUFFIX}"
        try:
            np.savez(
                partial,
                input_ids=np.asarray(kept.tokens, dtype=np.intc),
                llama_state=kept.data,
                seed=np.int64(kept.seed),
            )
            os.replace(partial, path)
        except OSError:
            partial.unlink(missing_ok=True)
            return
        index[name] = np.asarray(kept.tokens, dtype=np.intc).copy()
        self._bound(keep=name)

    def _bound(self, keep: str) -> None:
        """Remove the least recently used files beyond the capacity (never ``keep``)."""
        files = []
        for path in self.folder.glob("*" + SUFFIX):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime, stat.st_size, path.name))
        total = sum(size for _, size, _ in files)
        for _, size, name in sorted(files):
            if total <= self.capacity:
                break
            if name != keep:
                self._drop(name)
                total -= size

    def _drop(self, name: str) -> None:
        """Remove file ``name`` and forget it."""
        (self.folder / name).unlink(missing_ok=True)
        if self._index is not None:
            self._index.pop(name, None)

    def _tokens(self, path: Path) -> np.ndarray | None:
        """The tokens in ``path``, or None (and the file removed) when it is unreadable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                tokens = data["input_ids"].astype(np.intc)
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)
            return None
        if state_name(tokens) != path.name:
            path.unlink(missing_ok=True)
            return None
        return tokens
