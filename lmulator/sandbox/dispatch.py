"""Answering a runner's requests without ever letting it stall the broker.

The broker's reader thread hands each request to :meth:`Dispatcher.submit`, which never blocks:
the request is queued for one of at most ``workers`` answering threads, or, when the queue is
full, a "the broker is busy" error is queued for the writer instead. Replies are written by one
writer thread, so a runner that never reads its replies stalls only the writer (and, once the
outbox is full, the answering threads), never the reader: it keeps reading, and every request
beyond the queue gets a busy error, or none at all once the outbox is full of them. An answer is
never dropped: the thread that has one waits for room in the outbox. Nor does a runner wait for
ever: a request not answered within the time ``allowed`` it gets an error instead (from the
writer), and the answer that comes later is dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..wire import ChannelClosed

BUSY = "the broker is busy: too many LM requests at once"
POLL_S = 0.5  # how often waiting threads look whether the dispatcher was closed


def reply_id(value: Any) -> int | str | None:
    """The request id a reply echoes: a number or short text the runner chose, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and len(value) <= 64):
        return value
    return None


def late_error(seconds: float) -> str:
    """The error a request not answered within ``seconds`` gets."""
    return f"the LM did not answer within {seconds:g} s"


class Dispatcher:
    """A bounded queue of requests, answering threads, and one writer of replies."""

    def __init__(
        self,
        answer: Callable[[dict[str, Any]], dict[str, Any]],
        send: Callable[[dict[str, Any]], None],
        *,
        workers: int = 8,
        pending: int = 32,
        outbox: int = 64,
        allowed: Callable[[dict[str, Any]], float] | None = None,
    ) -> None:
        """``allowed(request)``: the seconds a request may wait for its answer (from when it
        was submitted); it must never raise or block (None: no limit)."""
        self._answer = answer
        self._send = send
        self._workers = workers
        self._allowed = allowed
        self._pending: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue(pending)
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue(outbox)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        # requests not yet answered, and by when they must be: token -> (deadline, seconds, id)
        self._waiting: dict[int, tuple[float, float, int | str | None]] = {}
        self._tokens = 0
        self.closed = threading.Event()
        self.taken = 0  # requests queued for an answer
        self.busy = 0  # requests answered with a busy error
        self.dropped = 0  # busy errors not even sent (the outbox was full)
        self.late = 0  # requests answered with an error for want of an answer in time
        self.discarded = 0  # answers that came after such an error, not sent

    def submit(self, request: dict[str, Any]) -> None:
        """Queue a request for an answer, or its busy error; never blocks."""
        self._start_threads()
        token = self._track(request)
        try:
            self._pending.put_nowait((token, request))
            self.taken += 1
            return
        except queue.Full:
            self._settle(token)
        self.busy += 1
        reply = {"op": "reply", "id": reply_id(request.get("id")), "error": BUSY,
                 "kind": "emulation"}  # fmt: skip
        try:
            self._outbox.put_nowait(reply)
        except queue.Full:
            self.dropped += 1

    def post(self, message: dict[str, Any]) -> bool:
        """Queue a message that may be lost (a streamed reply's text so far) for the writer;
        never blocks: False when the outbox is full and it was dropped."""
        try:
            self._outbox.put_nowait(message)
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """Stop the threads (those in an answer stop when it ends); never blocks."""
        self.closed.set()

    def _start_threads(self) -> None:
        with self._lock:
            if self._threads or self.closed.is_set():
                return
            targets = [self._write] + [self._work] * self._workers
            for i, target in enumerate(targets):
                thread = threading.Thread(target=target, name=f"lmulator-broker-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _track(self, request: dict[str, Any]) -> int:
        """A token for a request from now on waiting for its answer, with its deadline."""
        with self._lock:
            self._tokens += 1
            token = self._tokens
            if self._allowed is not None:
                seconds = self._allowed(request)
                entry = (time.monotonic() + seconds, seconds, reply_id(request.get("id")))
                self._waiting[token] = entry
        return token

    def _settle(self, token: int) -> bool:
        """Whether the request still waited for its answer (False: it was told it was late,
        or has no deadline); from now on it does not."""
        with self._lock:
            return self._waiting.pop(token, None) is not None or self._allowed is None

    def _overdue(self) -> list[dict[str, Any]]:
        """The errors for requests whose time is up; they no longer wait for an answer."""
        now = time.monotonic()
        with self._lock:
            late = [(t, entry) for t, entry in self._waiting.items() if entry[0] <= now]
            for token, _ in late:
                del self._waiting[token]
        self.late += len(late)
        return [{"op": "reply", "id": rid, "error": late_error(seconds), "kind": "emulation"}
                for _, (_, seconds, rid) in late]  # fmt: skip

    def _work(self) -> None:
        while not self.closed.is_set():
            try:
                token, request = self._pending.get(timeout=POLL_S)
            except queue.Empty:
                continue
            with self._lock:
                skip = self._allowed is not None and token not in self._waiting
            if skip:
                continue  # it was told it was late while it waited in the queue
            reply = self._answer(request)
            if not self._settle(token):
                self.discarded += 1  # too late: the runner was told, and has gone on
                continue
            while not self.closed.is_set():
                try:
                    self._outbox.put(reply, timeout=POLL_S)
                    break
                except queue.Full:
                    continue

    def _write(self) -> None:
        while not self.closed.is_set():
            replies = self._overdue()
            try:
                replies.append(self._outbox.get(timeout=POLL_S))
            except queue.Empty:
                pass
            for reply in replies:
                try:
                    self._send(reply)
                except ChannelClosed:
                    self.closed.set()
                    return
