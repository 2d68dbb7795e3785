"""How a cell's emulated lines are shown: plain text, HTML, and the trace as JSON."""

from __future__ import annotations

import html
import json
from typing import Any

from lmulator.engine.masking import Origin, value_note
from lmulator.engine.trace import TraceRecord, describe, listing, mark_of
from lmulator.usage import Spent

TRACE_MIME = "application/vnd.lmulator.trace+json"
TERMINAL_WIDTH = 80
MAX_FULL_LISTING_LINES = 40

_LEFT = "text-align:left;white-space:pre"
# Code keeps its natural width (the table scrolls sideways if it must); notes wrap.
_NOTE = "text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:18em"
_STYLE = {
    "emulated": "background:rgba(255,196,0,0.22);",
    "masked": "background:rgba(255,140,0,0.28);",
    "invented": "background:rgba(108,113,196,0.30);",
    "error": "background:rgba(220,50,47,0.22);",
}
# The rule beside a cell's value that came from the LM, and its note's colour.
_OUT_RULE = {
    "emulated": "border-left:3px solid rgba(255,160,0,0.9);padding-left:6px",
    "invented": "border-left:3px solid rgba(108,113,196,0.95);padding-left:6px",
}


def marked_records(trace: list[TraceRecord]) -> list[TraceRecord]:
    """The records a person should see: what the LM supplied, or failed to supply.

    A plain Python error is left to the error message, as in the stock kernel.
    """
    return [
        r for r in trace if r.status == "emulated" or (r.status == "error" and r.how != "python")
    ]


def _shown_lines(source: str, records: list[TraceRecord]) -> list[int]:
    lines = source.splitlines()
    if len(lines) <= MAX_FULL_LISTING_LINES:
        return list(range(1, len(lines) + 1))
    marked = {r.line for r in records}
    keep = {n for m in marked for n in (m - 1, m, m + 1) if 1 <= n <= len(lines)}
    return sorted(keep)


def plain_text(source: str, records: list[TraceRecord]) -> str:
    """The listing for a terminal (jupyter console: notes wrap under their line at 80 columns)."""
    keep = None
    if len(source.splitlines()) > MAX_FULL_LISTING_LINES:
        keep = set(_shown_lines(source, records))
    return listing(source, records, width=TERMINAL_WIDTH, only=keep)


def _row_class(recs: list[TraceRecord]) -> str:
    if any(r.status == "error" for r in recs):
        return "error"
    if any(r.how == "invented" for r in recs):
        return "invented"
    if any(r.masked_error for r in recs):
        return "masked"
    return "emulated"


def html_table(source: str, records: list[TraceRecord]) -> str:
    """The listing as HTML: emulated lines highlighted, the LM's request in a tooltip."""
    by_line: dict[int, list[TraceRecord]] = {}
    for rec in records:
        by_line.setdefault(rec.line, []).append(rec)
    lines = source.splitlines()
    rows = []
    for n in _shown_lines(source, records):
        code = html.escape(lines[n - 1]) if n <= len(lines) else ""
        recs = by_line.get(n)
        if not recs:
            rows.append(
                f'<tr class="lm-line"><td class="lm-no">{n}</td><td class="lm-flag"></td>'
                f'<td style="{_LEFT}"><code style="white-space:pre">{code}</code></td><td></td></tr>'
            )
            continue
        kind = _row_class(recs)
        notes = "<br>".join(html.escape(describe(r)) for r in recs[:5])
        if len(recs) > 5:
            notes += f"<br>… {len(recs) - 5} more"
        request = next((r.request for r in recs if r.request), None)
        tip = html.escape(json.dumps(request, indent=1, default=str)) if request else ""
        flag = mark_of(recs)
        rows.append(
            f'<tr class="lm-line lm-{kind}" style="{_STYLE[kind]}" title="{tip}">'
            f'<td class="lm-no">{n}</td><td class="lm-flag">{flag}</td>'
            f'<td style="{_LEFT}"><code style="white-space:pre">{code}</code></td>'
            f'<td class="lm-note" style="{_NOTE}">{notes}</td></tr>'
        )
    return (
        '<div class="lmulator-marks-scroll" style="overflow-x:auto;max-width:100%">'
        '<table class="lmulator-marks" style="font-family:monospace;border-collapse:collapse;'
        'text-align:left;table-layout:auto;margin-left:0">' + "".join(rows) + "</table></div>"
    )


def mark_bundle(
    source: str, trace: list[TraceRecord]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The display_data (data, metadata) for a cell, or None when nothing was emulated or failed.

    Timings vary from run to run, so they sit in the metadata and in the plain text (where a
    sanitize pattern can mask them), not in the trace JSON.
    """
    records = marked_records(trace)
    if not records:
        return None
    dicts = [r.to_dict() for r in records]
    timings = [d.pop("ms") for d in dicts]
    data = {
        "text/plain": plain_text(source, records),
        "text/html": html_table(source, records),
        TRACE_MIME: {"records": dicts},
    }
    return encodable(data), {TRACE_MIME: {"ms": timings}}


class OneLineInterrupt(KeyboardInterrupt):
    """An interrupt a magic has said all about: shown as its one line, with no frames."""


def usage_bundle(spent: Spent) -> tuple[dict[str, Any], dict[str, Any]]:
    """The display_data (data, metadata) that ends a cell which used the LM: its calls,
    tokens (prompt and completion) and seconds."""
    line = spent.describe()
    html_line = (
        '<div class="lmulator-usage" style="font-family:monospace;font-size:smaller;'
        f'opacity:0.7">{html.escape(line)}</div>'
    )
    figures = {**spent.as_dict(), "seconds": round(spent.seconds, 3)}
    return {"text/plain": line, "text/html": html_line}, {"lmulator": {"usage": figures}}


def encodable(value: Any) -> Any:
    """``value`` with every string made encodable as UTF-8 (a lone surrogate written as an
    escape), so that the message carrying it can be sent."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(v) for v in value]
    return value


def marked_value(data: dict[str, Any], origin: Origin) -> dict[str, Any]:
    """A cell value's formats with the note that it came from the LM: a line under its
    ``text/plain``, and its ``text/html`` beside a coloured rule with the note under it (made
    from the plain text when that is the only format: a frontend prefers HTML to an image, so
    none is added beside one)."""
    note = value_note(origin)
    plain = data.get("text/plain")
    out = dict(data)
    out["text/plain"] = f"{plain}\n{note}" if isinstance(plain, str) else note
    body = data.get("text/html")
    if not isinstance(body, str):
        if set(data) - {"text/plain"}:
            return out
        text = html.escape(plain) if isinstance(plain, str) else ""
        body = f'<pre style="margin:0">{text}</pre>'
    out["text/html"] = (
        f'<div class="lm-out lm-out-{origin}" style="{_OUT_RULE[origin]}" title="{html.escape(note)}">'
        f'{body}<div class="lm-out-note" style="font-family:monospace;font-size:smaller">'
        f"{html.escape(note)}</div></div>"
    )
    return out


def trace_table(records: list[TraceRecord]) -> dict[str, str]:
    """``%trace``: the records as a table, plain and HTML."""
    header = ("line", "status", "what", "ms")
    rows = [(str(r.line), r.status, describe(r, with_ms=False), f"{r.ms:.0f}") for r in records]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    text = "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    )
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    head = "".join(f"<th>{h}</th>" for h in header)
    return {"text/plain": text, "text/html": f"<table><tr>{head}</tr>{cells}</table>"}
