"""The kernel: IPython's, with the lmulator shell, its magics, and the trace in reply metadata."""

from __future__ import annotations

from typing import Any, cast

from ipykernel.ipkernel import IPythonKernel
from traitlets import Type

from . import __version__
from .magics import CocMagics
from .render import marked_records
from .shell import CocShell


class CocKernel(IPythonKernel):
    """A Chain-of-Code kernel: cells run through lmulator, missing pieces are emulated by an LM."""

    implementation = "cockernel"
    implementation_version = __version__
    banner = (
        "Chain of Code (Python) — cells run statement by statement; what cannot run is "
        "emulated by a language model (%lm, %mode, %trace, %state, %undo)."
    )
    shell_class = Type(CocShell)

    @property
    def coc_shell(self) -> CocShell:
        """The kernel's shell, a ``CocShell``."""
        return cast(CocShell, self.shell)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coc_shell.register_magics(CocMagics)

    def _process_children(self) -> list[Any]:
        """The kernel's child processes, for ipykernel's shutdown; a confined kernel may not
        list ``/proc`` (its own workers are ended by the broker and the zygote)."""
        try:
            return super()._process_children()
        except PermissionError:
            return []

    def init_metadata(self, parent: Any) -> dict[str, Any]:
        """Start a request's metadata; forget the previous cell's run."""
        self.coc_shell.last_run = None
        return super().init_metadata(parent)

    def finish_metadata(self, parent: Any, metadata: dict[str, Any], reply_content: dict) -> dict:
        """Put the cell's trace into the execute_reply metadata under ``lmulator``."""
        metadata = super().finish_metadata(parent, metadata, reply_content)
        run = self.coc_shell.last_run
        if run is not None:
            records = marked_records(run.trace)
            if records:
                metadata["lmulator"] = {"records": [r.to_dict() for r in records]}
        return metadata
