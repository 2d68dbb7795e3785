"""Answering a runner's requests without ever letting it stall the broker.

The broker's reader thread hands each request to :meth:`Dispatcher.submit`, which never blocks:
the request is queued for one of at most ``workers`` answering threads, or, when the queue is
full, a "the broker is busy" error is queued for the writer instead. Replies are written by one
writer thread, so a runner that never reads its replies stalls only the writer (and, once the
outbox is full, the answering threads), never the reader: it keeps reading, and every request
beyond the queue gets a busy error, or none at all once the outbox is full of them. An answer is
never dropped: the thread that has one waits for room in the outbox.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..wire import ChannelClosed

BUSY = "the broker is busy: too many LM requests at once"
POLL_S = 0.5  # how often waiting threads look whether the dispatcher was closed


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
    ) -> None:
        self._answer = answer
        self._send = send
        self._workers = workers
        self._pending: queue.Queue[dict[str, Any]] = queue.Queue(pending)
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue(outbox)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.closed = threading.Event()
        self.taken = 0  # requests queued for an answer
        self.busy = 0  # requests answered with a busy error
        self.dropped = 0  # busy errors not even sent (the outbox was full)

    def submit(self, request: dict[str, Any]) -> None:
        """Queue a request for an answer, or its busy error; never blocks."""
        self._start_threads()
        try:
            self._pending.put_nowait(request)
            self.taken += 1
            return
        except queue.Full:
            pass
        self.busy += 1
        reply = {"op": "reply", "id": request.get("id"), "error": BUSY, "kind": "emulation"}
        try:
            self._outbox.put_nowait(reply)
        except queue.Full:
            self.dropped += 1

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

    def _work(self) -> None:
        while not self.closed.is_set():
            try:
                request = self._pending.get(timeout=POLL_S)
            except queue.Empty:
                continue
            reply = self._answer(request)
            while not self.closed.is_set():
                try:
                    self._outbox.put(reply, timeout=POLL_S)
                    break
                except queue.Full:
                    continue

    def _write(self) -> None:
        while not self.closed.is_set():
            try:
                reply = self._outbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
            try:
                self._send(reply)
            except ChannelClosed:
                self.closed.set()
