"""Shows which line is being emulated while an LM request takes longer than half a second."""

from __future__ import annotations

import contextvars
import sys
import threading
from typing import TextIO

from .emulator import Emulator, Request

DELAY_S = 0.5


class DelayedNotice:
    """Shows a notice for a request that is still running after a delay; clears it at the end."""

    def __init__(self, delay: float = DELAY_S) -> None:
        self.delay = delay
        self._timer: threading.Timer | None = None
        self._shown = False
        self._lock = threading.Lock()

    def attach(self, emulator: Emulator) -> None:
        """Report the emulator's requests."""
        emulator.on_start = self.start
        emulator.on_end = self.end

    @staticmethod
    def text(req: Request) -> str:
        """The notice for a request."""
        target = req.target if len(req.target) <= 60 else req.target[:57] + "..."
        return f"⋯ emulating line {req.line}: {target}"

    def show(self, req: Request) -> None:
        """Put the notice up (subclasses say where)."""
        raise NotImplementedError

    def clear(self) -> None:
        """Take the notice down (subclasses say how)."""

    def _fire(self, req: Request) -> None:
        with self._lock:
            self.show(req)
            self._shown = True

    def start(self, req: Request) -> None:
        """A request went out: show it if it is still running after the delay."""
        # The timer runs in this context, so output reaches whatever is running now.
        ctx = contextvars.copy_context()
        self._timer = threading.Timer(self.delay, ctx.run, args=(self._fire, req))
        self._timer.daemon = True
        self._timer.start()

    def end(self, req: Request) -> None:
        """The request finished: cancel the notice, or clear it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
            self._timer = None
        with self._lock:
            if self._shown:
                self.clear()
            self._shown = False


class ProgressLine(DelayedNotice):
    """A status line on a terminal (updated in place), plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None, delay: float = DELAY_S) -> None:
        super().__init__(delay)
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def show(self, req: Request) -> None:
        """Write the status line."""
        if self.tty:
            self.stream.write("\r\033[K" + self.text(req))
        else:
            self.stream.write(self.text(req) + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the status line on a terminal."""
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
