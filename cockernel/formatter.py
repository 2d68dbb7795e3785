"""The shell's display formatter: a cell's value that came from the LM is shown marked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from IPython.core.formatters import DisplayFormatter

from lmulator.engine.masking import Origin

from .render import marked_value


class MarkingFormatter(DisplayFormatter):
    """IPython's display formatter; inside :meth:`marking`, the formats carry the mark."""

    origin: Origin | None = None

    def format(self, obj: Any, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        """The object's formats (and metadata), marked while a marked value is shown."""
        data, metadata = super().format(obj, include, exclude)
        if self.origin is not None and data:
            data = marked_value(data, self.origin)
        return data, metadata

    @contextlib.contextmanager
    def marking(self, origin: Origin | None) -> Iterator[None]:
        """Mark what is formatted in the block as ``origin`` (nothing if None)."""
        self.origin = origin
        try:
            yield
        finally:
            self.origin = None
