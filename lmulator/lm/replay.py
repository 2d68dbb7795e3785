"""Record every emulation exchange of a run to a JSON-lines file, and replay runs from it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, EmulationError
from .confidence import checked_confidence

if TYPE_CHECKING:
    from .request import Request

REPLAY_SUFFIX = ".lmreplay.jsonl"


def replay_path_for(program: str | os.PathLike[str]) -> Path:
    """The replay file that sits next to a script or notebook."""
    p = Path(program)
    return p.with_name(p.stem + REPLAY_SUFFIX)


def _reason(exc: OSError) -> str:
    """An OSError's reason, without the path the message names already."""
    return exc.strerror or type(exc).__name__


class ReplayBook:
    """A replay file: written in ``record`` mode, read in ``replay`` mode."""

    def __init__(self, path: str | os.PathLike[str], mode: str) -> None:
        if mode not in ("record", "replay"):
            raise ConfigError(f"unknown record mode {mode!r} (choose from record, replay)")
        self.path = Path(path)
        self.mode = mode
        self._started = False
        self.replies: dict[str, str] = {}
        self.confidences: dict[str, float | None] = {}  # None where none was recorded
        if mode == "replay":
            self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            raise ConfigError(f"replay file {self.path} does not exist (run once with record)")
        try:
            with self.path.open(encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise ConfigError(f"replay file {self.path}: cannot read it: {_reason(exc)}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"replay file {self.path} is not UTF-8 text") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key, reply = entry["key"], entry["reply"]
            except (ValueError, KeyError, TypeError, RecursionError):
                raise ConfigError(f"{self.path}:{number}: not a replay record") from None
            if not isinstance(key, str) or not isinstance(reply, str):
                raise ConfigError(f"{self.path}:{number}: not a replay record")
            try:  # a record written before confidences were kept has none
                self.confidences[key] = checked_confidence(entry.get("confidence"))
            except ValueError as exc:
                raise ConfigError(f"{self.path}:{number}: {exc}") from None
            self.replies[key] = reply

    def lookup(self, req: Request) -> str:
        """The recorded reply text for a request; EmulationError if there is none."""
        reply = self.replies.get(req.memo_key)
        if reply is None:
            error = EmulationError(f"no recorded reply for line {req.line}: {req.target}")
            error.line = req.line
            raise error
        return reply

    def confidence(self, req: Request) -> float | None:
        """The confidence recorded with a request's reply (None where none was)."""
        return self.confidences.get(req.memo_key)

    def add(self, req: Request, reply: str, confidence: float | None = None) -> None:
        """Append one exchange and its confidence (the first write of a run starts the file
        afresh)."""
        entry: dict[str, Any] = {
            "key": req.memo_key,
            "kind": req.kind,
            "line": req.line,
            "target": req.target,
            "reply": reply,
            "confidence": confidence,
        }
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a" if self._started else "w", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            error = EmulationError(f"cannot write the replay file {self.path}: {_reason(exc)}")
            error.line = req.line
            raise error from None
        except UnicodeEncodeError:  # a lone surrogate: escaped rather than lost
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
        self._started = True
        self.replies[req.memo_key] = reply
        self.confidences[req.memo_key] = confidence
