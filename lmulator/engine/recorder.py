"""The running cell's trace, and the sites and cell sources that say where each record belongs."""

from __future__ import annotations

import itertools
import sys
import types
from typing import Any

from ..kinds import How
from .instrument.sites import Site
from .masking import MaskedError
from .trace import TraceRecord, state_repr

#: A cell's trace stops growing here (a loop emulated a million times).
MAX_TRACE_RECORDS = 200_000


class Recorder:
    """Sites by id, cell sources by name, and the trace of the cell running now."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.sites: dict[int, Site] = {}
        self.cells: dict[str, str] = {}
        self.trace: list[TraceRecord] = []
        self.masked: list[MaskedError] = []  # the running cell's (its RunResult's list)
        self.current_cell = ""

    def site(self, site_id: int) -> Site:
        """A site by id."""
        return self.sites[site_id]

    def line_text(self, site: Site) -> str:
        """The stripped source line a site starts on."""
        return self.cell_line(site.cell, site.line) or (
            site.source.splitlines()[0].strip() if site.source else ""
        )

    def cell_line(self, cell: str, line: int) -> str:
        """Line ``line`` of cell ``cell``, stripped ("" if there is none)."""
        lines = self.cells.get(cell, "").splitlines()
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    def locate(self, site: Site) -> tuple[int, str]:
        """The line of the running cell an emulation belongs to.

        A site in the running cell is its own place; a stub, or a site in a function
        from an earlier cell, is marked at the running cell's line that led to it.
        """
        current = self.current_cell
        if site.cell == current and site.kind != "stub":
            return site.line, self.line_text(site)
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == current:
                return frame.f_lineno, self.cell_line(current, frame.f_lineno)
            frame = frame.f_back
        return site.line, self.line_text(site)

    def record(self, record: TraceRecord) -> None:
        """Add a record to the running cell's trace."""
        if len(self.trace) < MAX_TRACE_RECORDS:
            self.trace.append(record)

    def note_masked(self, line: int, error: str, invented: bool) -> None:
        """Note that an LM value or delta stood in for a genuine error at ``line``."""
        if len(self.masked) < MAX_TRACE_RECORDS:
            self.masked.append(MaskedError(line, error, invented))

    def record_ran(self, site: Site, local_vars: dict[str, Any]) -> None:
        """Record that a statement ran, with the bindings it made (full trace level)."""
        if len(self.trace) >= MAX_TRACE_RECORDS:
            return
        bindings = {n: state_repr(local_vars[n]) for n in site.targets if n in local_vars}
        self.record(TraceRecord(site.line, self.line_text(site), "ran", bindings=bindings or None))

    def record_resolution(self, site: Site, target: str, value: Any, how: How) -> None:
        """Record that a missing piece of a partial program got ``value`` (``how``)."""
        line, line_text = self.locate(site)
        self.record(
            TraceRecord(
                line, line_text, "emulated", value=value, has_value=True, target=target, how=how
            )
        )
