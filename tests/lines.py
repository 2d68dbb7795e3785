"""Reading a child process's output line by line, never without a deadline."""

from __future__ import annotations

import queue
import threading
from typing import IO


class LineReader:
    """Lines of a text stream, read in a thread; ``next`` waits at most its timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put("")  # end of stream

    def next(self, timeout: float = 30.0) -> str:
        """The next line ('' at end of stream); fail the test if none comes in time."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the child within {timeout:g} s") from None
