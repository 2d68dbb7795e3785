"""Shows which line is being emulated while an LM request takes longer than half a second."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from .emulator import Emulator, Request

DELAY_S = 0.5


class ProgressLine:
    """A status line on a terminal (updated in place), plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None, delay: float = DELAY_S) -> None:
        self.stream = stream or sys.stderr
        self.delay = delay
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._timer: threading.Timer | None = None
        self._shown = False
        self._lock = threading.Lock()

    def attach(self, emulator: Emulator) -> None:
        """Report the emulator's requests."""
        emulator.on_start = self.start
        emulator.on_end = self.end

    def _text(self, req: Request) -> str:
        target = req.target if len(req.target) <= 60 else req.target[:57] + "..."
        return f"⋯ emulating line {req.line}: {target}"

    def _show(self, req: Request) -> None:
        with self._lock:
            if self.tty:
                self.stream.write("\r\033[K" + self._text(req))
            else:
                self.stream.write(self._text(req) + "\n")
            self.stream.flush()
            self._shown = True

    def start(self, req: Request) -> None:
        """A request went out: show it if it is still running after the delay."""
        self._timer = threading.Timer(self.delay, self._show, args=(req,))
        self._timer.daemon = True
        self._timer.start()

    def end(self, req: Request) -> None:
        """The request finished: cancel or clear the status line."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
            self._timer = None
        with self._lock:
            if self._shown and self.tty:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._shown = False
