"""What restricted cells may reach of the notebook machinery: magics, display, widgets."""

from __future__ import annotations

import os
from typing import Any

from lmulator.guards import PolicyError, sys_module
from lmulator.policy import DEFAULT_ALLOWED_MODULES, Policy

# Magics a restricted cell may run: the kernel's own, and ones that only read.
RESTRICTED_MAGICS = frozenset(
    {
        "lm", "mode", "policy", "limits", "sandbox", "trace", "state", "undo", "explore", "coc", "isolated",
        "who", "whos", "who_ls", "pinfo", "pinfo2", "psearch", "history", "hist",
        "lsmagic", "magic", "page",
    }
)  # fmt: skip


class RestrictedIPython:
    """What ``get_ipython()`` returns to a restricted cell: magics on a list, no shell commands."""

    def __init__(self, shell: Any) -> None:
        self._shell = shell

    def __repr__(self) -> str:
        return "<restricted IPython>"

    def _check(self, name: str) -> None:
        if getattr(self._shell, "lm_program_running", False):
            raise PolicyError(
                "a program the LM wrote may not run magics (they change the endpoint, "
                "the policy and the limits)"
            )
        if name not in RESTRICTED_MAGICS:
            raise PolicyError(
                f"%{name} is not available under the restricted policy "
                f"(available: {', '.join('%' + m for m in sorted(RESTRICTED_MAGICS))}; "
                "%policy trusted lifts this)"
            )

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
        """Run a line magic from the restricted list."""
        self._check(magic_name)
        return self._shell.run_line_magic(magic_name, line, _stack_depth=_stack_depth + 1)

    def run_cell_magic(self, magic_name: str, line: str, cell: str) -> Any:
        """Run a cell magic from the restricted list."""
        self._check(magic_name)
        return self._shell.run_cell_magic(magic_name, line, cell)

    def system(self, cmd: str) -> None:
        """Shell commands are refused under the restricted policy."""
        raise PolicyError(
            "shell commands (!cmd) are not allowed under the restricted policy; "
            "%policy trusted allows them"
        )

    getoutput = system


def _data_only(cls: type) -> Any:
    """A display class that takes data only: never a file name or a URL to load."""

    def make(data: Any, metadata: dict | None = None) -> Any:
        if isinstance(data, str) and (data.startswith("http") or os.path.exists(data)):
            raise PolicyError(f"{cls.__name__}() takes data, not a file or URL, here")
        return cls(data=data, metadata=metadata)

    make.__name__ = make.__qualname__ = cls.__name__
    make.__doc__ = f"Display {cls.__name__} data."
    return make


def display_module() -> dict[str, Any]:
    """The members of ``IPython.display`` as restricted cells see it."""
    from IPython import display as d

    members: dict[str, Any] = {
        "display": d.display,
        "clear_output": d.clear_output,
        "update_display": d.update_display,
        "DisplayHandle": d.DisplayHandle,
    }
    for name in ("HTML", "Markdown", "Latex", "Math", "JSON", "Pretty"):
        members[name] = _data_only(getattr(d, name))
    return members


def kernel_policy(name: str = "restricted") -> Policy:
    """The policy a kernel starts with: the library's, plus widgets and display."""
    return Policy(
        name,
        allowed_modules=(*DEFAULT_ALLOWED_MODULES, "ipywidgets"),
        synthetic_modules={"IPython.display": display_module(), "IPython": {}, "sys": sys_module()},
    )


def notebook_builtins() -> dict[str, Any]:
    """Names every notebook cell can use without importing them."""
    members = display_module()
    return {"display": members["display"], "clear_output": members["clear_output"]}
