"""The trace explorer: see what the LM was asked and said, overwrite a value, re-run from there."""

from __future__ import annotations

import contextlib
import html
import json
from typing import Any

import ipywidgets as widgets
from IPython import get_ipython
from IPython.display import display

from lmulator.engine.session import Session
from lmulator.engine.trace import TraceRecord, describe, mark_of
from lmulator.lm.reply import ReplyError, to_python

from .formatter import MarkingFormatter
from .render import mark_bundle, marked_records


def _label(index: int, record: TraceRecord) -> str:
    return f"{mark_of([record])} line {record.line}: {describe(record)[:90]}  [{index}]"


class TraceExplorer:
    """A widget over the last cell's trace (``%explore``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.records = self._records()
        self.select = widgets.Select(
            options=self._options(), rows=8, layout=widgets.Layout(width="100%")
        )
        self.detail = widgets.HTML()
        self.value = widgets.Text(
            description="new value", placeholder='JSON, e.g. "France" or {"total": 5}',
            layout=widgets.Layout(width="100%"),
        )  # fmt: skip
        self.rerun = widgets.Button(
            description="Overwrite and re-run from here", button_style="warning"
        )
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.select.observe(self._show, names="value")
        self.rerun.on_click(self._rerun)
        self.widget = widgets.VBox(
            [self.select, self.detail, self.value, self.rerun, self.status, self.output]
        )
        self.refresh()

    def _records(self) -> list[TraceRecord]:
        last = self.session.last_cell
        return marked_records(last[1].trace) if last else []

    def _options(self) -> list[tuple[str, int]]:
        return [(_label(i, r), i) for i, r in enumerate(self.records)]

    def refresh(self) -> None:
        """Load the records of the last cell the LM had a hand in."""
        self.records = self._records()
        self.select.options = self._options()
        self.select.value = 0 if self.records else None
        if not self.records:
            self.detail.value = "<i>nothing was emulated in the last cell</i>"

    def _show(self, change: Any = None) -> None:
        index = self.select.value
        if index is None or index >= len(self.records):
            return
        rec = self.records[index]
        request = json.dumps(rec.request, indent=1, default=str) if rec.request else "(none)"
        reply = json.dumps(
            rec.delta if rec.delta is not None else rec.to_dict().get("value"), default=str
        )
        self.detail.value = (
            f"<b>line {rec.line}</b> <code>{html.escape(rec.source)}</code><br>"
            f"<b>how</b>: {html.escape(rec.how or '')}"
            + (f" — masked {html.escape(rec.masked_error)}" if rec.masked_error else "")
            + f"<br><b>the LM saw</b><pre>{html.escape(request)}</pre>"
            f"<b>it replied</b> <code>{html.escape(reply)}</code>"
        )
        self.value.value = reply

    def overwrite_and_rerun(self, index: int, text: str) -> Any:
        """Overwrite record ``index``'s emulated value with JSON ``text``; re-run from its line."""
        rec = self.records[index]
        try:
            value = to_python(json.loads(text))
        except (ValueError, ReplyError) as exc:
            raise ValueError(f"not a JSON value: {exc}") from None
        self.session.override(rec, value)
        result = self.session.rerun_from(rec.line)
        self.refresh()
        return result

    def _rerun(self, button: Any) -> None:
        if self.select.value is None:
            return
        try:
            result = self.overwrite_and_rerun(self.select.value, self.value.value)
        except ValueError as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        self.status.value = "re-ran from that statement" + (
            f"; it failed: {html.escape(str(result.error))}" if result.error else ""
        )
        with self.output:
            self.output.clear_output()
            marks = mark_bundle(result.source, result.trace)
            if marks is not None:
                display(marks[0], metadata=marks[1], raw=True)
            if result.has_value:
                formatter = getattr(get_ipython(), "display_formatter", None)
                with (
                    formatter.marking(result.value_origin)
                    if isinstance(formatter, MarkingFormatter)
                    else contextlib.nullcontext()
                ):
                    display(result.value)
