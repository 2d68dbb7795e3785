"""A persistent reply cache on disk (sqlite3), so a re-run costs no LM call."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import ChatClient, Completion, complete_scored, stream_text
from .confidence import checked_confidence

SCHEMA_VERSION = 1


def default_cache_path() -> Path:
    """``$LMULATOR_CACHE_DIR`` or the user's cache directory, + ``replies.sqlite3``."""
    base = os.environ.get("LMULATOR_CACHE_DIR")
    if base:
        return Path(base) / "replies.sqlite3"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lmulator")) / "replies.sqlite3"


def cache_key(
    model: str, endpoint: str, messages: list[dict[str, str]], schema: dict[str, Any]
) -> str:
    """The key of one exact request to one model at one endpoint."""
    blob = json.dumps([SCHEMA_VERSION, model, endpoint, messages, schema], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class CacheWarning(UserWarning):
    """The reply cache could not be used as it was (set aside, or turned off)."""


class ReplyCache:
    """Replies by request key in an sqlite3 file; safe for several processes at once."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.enabled = True
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._open()
        except sqlite3.OperationalError as exc:  # cannot open or lock it: not a damaged file
            self._disable(exc)
        except sqlite3.DatabaseError as exc:
            try:
                self._set_aside(exc)
                self._conn = self._open()
            except (sqlite3.Error, OSError) as again:
                self._disable(again)
        except OSError as exc:
            self._disable(exc)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {row}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT, "
                "endpoint TEXT, request TEXT, reply TEXT, created REAL)"
            )
            _add_confidence_column(conn)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _set_aside(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.replace(Path(str(aside) + suffix))
        warnings.warn(
            f"reply cache {self.path} was unreadable ({exc}); set aside as {aside.name}",
            CacheWarning,
            stacklevel=3,
        )

    def _disable(self, exc: Exception) -> None:
        self.enabled = False
        warnings.warn(f"reply cache {self.path} turned off: {exc}", CacheWarning, stacklevel=3)

    def get(self, key: str) -> str | None:
        """The cached reply for a key, or None."""
        hit = self.get_scored(key)
        return None if hit is None else hit.text

    def get_scored(self, key: str) -> Completion | None:
        """The cached reply for a key with the confidence it was stored with, or None. A reply
        stored without one (by an older version, or from an endpoint that gave none) has None."""
        if not self.enabled or self._conn is None:
            return None
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT reply, confidence FROM replies WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as exc:
            self._disable(exc)
            return None
        if row is None or not isinstance(row[0], str):
            return None
        try:
            confidence = checked_confidence(row[1])
        except ValueError:
            confidence = None
        return Completion(row[0], confidence)

    def put(
        self,
        key: str,
        model: str,
        endpoint: str,
        request: Any,
        reply: str,
        confidence: float | None = None,
    ) -> None:
        """Store a reply and its confidence (last writer wins; all writers store the same reply
        for a key)."""
        if not self.enabled or self._conn is None:
            return
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR REPLACE INTO replies (key, model, endpoint, request, reply, "
                    "created, confidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, model, endpoint, json.dumps(request, sort_keys=True), reply, time.time(),
                     confidence),
                )  # fmt: skip
        except sqlite3.Error as exc:
            self._disable(exc)
        except (UnicodeError, ValueError, TypeError):
            pass  # a reply that is not valid text (a lone surrogate) is not kept

    def __len__(self) -> int:
        if not self.enabled or self._conn is None:
            return 0
        try:
            with self._lock:
                return int(self._conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0])
        except sqlite3.Error as exc:
            self._disable(exc)
            return 0

    def close(self) -> None:
        """Close the database."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _add_confidence_column(conn: sqlite3.Connection) -> None:
    """Give a cache made before confidences were kept their column (its rows read as None)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(replies)")}
    if "confidence" in columns:
        return
    try:
        conn.execute("ALTER TABLE replies ADD COLUMN confidence REAL")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):  # another process added it first
            raise


class CachedClient:
    """A chat client that answers repeated exact requests from a ReplyCache."""

    def __init__(self, client: ChatClient, cache: ReplyCache, endpoint: str) -> None:
        self.client = client
        self.cache = cache
        self.endpoint = endpoint
        self.hits = 0

    @property
    def model(self) -> str:
        """The wrapped client's model."""
        return self.client.model

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """The cached free-text reply, or the client's (then cached)."""
        key = cache_key(self.model, self.endpoint, messages, {"text": max_tokens})
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        reply = self.client.complete_text(messages, max_tokens)
        self.cache.put(key, self.model, self.endpoint, {"messages": messages}, reply)
        return reply

    def stream_text(
        self, messages: list[dict[str, str]], max_tokens: int, on_text: Callable[[str], None]
    ) -> str:
        """The cached free-text reply (handed to ``on_text`` whole), or the client's, streamed
        (then cached)."""
        key = cache_key(self.model, self.endpoint, messages, {"text": max_tokens})
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            on_text(hit)
            return hit
        reply = stream_text(self.client, messages, max_tokens, on_text)
        self.cache.put(key, self.model, self.endpoint, {"messages": messages}, reply)
        return reply

    @property
    def usage(self) -> Any:
        """The wrapped client's usage."""
        return getattr(self.client, "usage", None)

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """The cached reply, or the client's reply (then cached)."""
        return self.complete_scored(messages, schema, name).text

    def complete_scored(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> Completion:
        """The cached reply with the confidence it was stored with, or the client's (then
        cached)."""
        key = cache_key(self.model, self.endpoint, messages, schema)
        hit = self.cache.get_scored(key)
        if hit is not None:
            self.hits += 1
            return hit
        reply = complete_scored(self.client, messages, schema, name)
        self.cache.put(
            key,
            self.model,
            self.endpoint,
            {"messages": messages, "schema": schema},
            reply.text,
            reply.confidence,
        )
        return reply
