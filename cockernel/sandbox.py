"""What restricted cells may reach of the notebook machinery: magics, display, widgets."""

from __future__ import annotations

import os
import shlex
import sys
import types
from typing import Any

from lmulator.policy import exposed_modules
from lmulator.policy.guards import attribute_name_allowed, register_host
from lmulator.policy.library import replace_members
from lmulator.policy.policy import DEFAULT_ALLOWED_MODULES, Policy
from lmulator.policy.refusals import PolicyError
from lmulator.policy.restricted_builtins import sys_module
from lmulator.reason import LM_PROGRAM_FILE

from .paths import path_in_notebook_dir

# Code compiled under LM_PROGRAM_FILE (a program the LM wrote) never runs a magic.

#: Names the kernel puts in the namespace that an LM value or delta may never rebind.
KERNEL_NAMES = frozenset(
    {"get_ipython", "display", "clear_output", "In", "Out", "exit", "quit", "open"}
)

# What restricted cells get of ipywidgets, name by name: the widgets and interact; not
# get_ipython, the comm-target registration or the extension loader.
WIDGET_NAMES = frozenset(
    {
        "Accordion", "AppLayout", "Audio", "BoundedFloatText", "BoundedIntText", "Box", "Button",
        "ButtonStyle", "Checkbox", "Color", "ColorPicker", "ColorsInput", "Combobox",
        "Controller", "CoreWidget", "DOMWidget", "DatePicker", "Datetime", "DatetimePicker",
        "Dropdown", "FileUpload", "FloatLogSlider", "FloatProgress", "FloatRangeSlider",
        "FloatSlider", "FloatText", "FloatsInput", "GridBox", "GridspecLayout", "HBox", "HTML",
        "HTMLMath", "Image", "IntProgress", "IntRangeSlider", "IntSlider", "IntText",
        "IntsInput", "Label", "Layout", "NaiveDatetimePicker", "NumberFormat", "Output",
        "Password", "Play", "RadioButtons", "Select", "SelectMultiple", "SelectionRangeSlider",
        "SelectionSlider", "SliderStyle", "Stack", "Style", "Tab", "TagsInput", "Text",
        "Textarea", "TimePicker", "ToggleButton", "ToggleButtons", "ToggleButtonsStyle",
        "TwoByTwoLayout", "TypedTuple", "VBox", "Valid", "ValueWidget", "Video", "Widget",
        "fixed", "interact", "interact_manual", "interactive", "interactive_output", "jslink",
        "jsdlink", "link", "dlink",
    }
)  # fmt: skip
exposed_modules.LISTED.setdefault("ipywidgets", WIDGET_NAMES)

# The packages of the notebook machinery, and the attributes through which their objects reach
# the kernel: the kernel, its shell, comms, sessions, logs; trait introspection (which hands out
# every trait value: a widget's comm, a comm's kernel); from_file/from_url (read by name).
HOST_PACKAGES = frozenset(
    {
        "ipywidgets",
        "ipykernel",
        "IPython",
        "comm",
        "traitlets",
        "jupyter_client",
        "zmq",
        "cockernel",
    }
)
HOST_ATTRIBUTES = frozenset(
    {
        "kernel", "shell", "comm", "comm_manager", "session", "parent", "log", "trait_values",
        "traits", "class_traits", "class_own_traits", "trait_metadata", "trait_defaults",
        "class_trait_names", "trait_events", "observe", "unobserve", "unobserve_all",
        "on_trait_change", "set_trait", "add_traits", "from_file", "from_url",
        "get_manager_state", "widgets", "_active_widgets", "handle_comm_opened",
    }
)  # fmt: skip


def _trait_names(names: Any, obj: Any) -> list[str]:
    """Trait names a cell may observe or link: public, and none that leads to the kernel."""
    from traitlets import All

    if names is All or names is None:
        return [n for n in obj.trait_names() if not n.startswith("_") and n not in HOST_ATTRIBUTES]
    listed = [names] if isinstance(names, str) else list(names)
    for name in listed:
        if not isinstance(name, str) or name.startswith("_") or name in HOST_ATTRIBUTES:
            raise PolicyError(f"trait {name!r} cannot be observed or linked from a cell")
    return listed


def _checked_observe(obj: Any) -> Any:
    def observe(handler: Any, names: Any = None, type: str = "change") -> None:
        """Call ``handler`` when the named traits change (public, non-kernel traits only)."""
        obj.observe(handler, names=_trait_names(names, obj), type=type)

    return observe


def _checked_unobserve(obj: Any) -> Any:
    def unobserve(handler: Any, names: Any = None, type: str = "change") -> None:
        """Stop calling ``handler`` for the named traits."""
        obj.unobserve(handler, names=_trait_names(names, obj), type=type)

    return unobserve


def _checked_link(function: Any) -> Any:
    def link(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        for obj, name in (source, target):
            _trait_names(name, obj)
        return function(source, target, *args, **kwargs)

    link.__name__ = link.__qualname__ = function.__name__
    link.__doc__ = function.__doc__
    return link


def _install_widget_checks() -> None:
    import ipywidgets

    register_host(
        HOST_PACKAGES,
        HOST_ATTRIBUTES,
        {"observe": _checked_observe, "unobserve": _checked_unobserve},
    )
    replace_members(
        "ipywidgets",
        {"link": _checked_link(ipywidgets.link), "dlink": _checked_link(ipywidgets.dlink)},
    )


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

    def _check(self, name: str, line: str = "") -> None:
        if getattr(self._shell, "lm_program_running", False) or lm_code_on_stack():
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
        check_magic_arguments(name, line)

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
        """Run a line magic from the restricted list."""
        self._check(magic_name, line)
        return self._shell.run_line_magic(magic_name, line, _stack_depth=_stack_depth + 1)

    def run_cell_magic(self, magic_name: str, line: str, cell: str) -> Any:
        """Run a cell magic from the restricted list."""
        self._check(magic_name, line)
        return self._shell.run_cell_magic(magic_name, line, cell)

    def system(self, cmd: str) -> None:
        """Shell commands are refused under the restricted policy."""
        raise PolicyError(
            "shell commands (!cmd) are not allowed under the restricted policy; "
            "%policy trusted allows them"
        )

    getoutput = system


def lm_code_on_stack() -> bool:
    """Whether code the LM wrote (a ``%%coc`` program, its functions and methods) is running."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == LM_PROGRAM_FILE:
            return True
        frame = frame.f_back
    return False


# Magics that look up an object by a dotted name, and the option of %history that writes a file.
_OBJECT_MAGICS = frozenset({"pinfo", "pinfo2", "psearch", "page"})


def check_magic_arguments(name: str, line: str) -> None:
    """Refuse arguments of an allowed magic that reach past the policy: a dotted object path
    with a private or refused attribute, a file outside the notebook's directory."""
    if name in _OBJECT_MAGICS:
        for word in line.replace("?", " ").replace("*", "x").split():
            if word.startswith("-"):
                continue
            parts = word.split(".")
            if any(not attribute_name_allowed(p) or p.startswith("_") for p in parts[1:]):
                raise PolicyError(f"%{name}: {word!r} names an attribute the policy refuses")
    elif name in ("history", "hist"):
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise PolicyError(f"%{name}: {exc}") from None
        for flag, value in zip(words, words[1:] + [""], strict=True):
            if flag.startswith("-") and "f" in flag.lstrip("-") and not flag.startswith("--"):
                path_in_notebook_dir(value, f"%{name} -f")


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
    _install_widget_checks()
    return Policy(
        name,
        allowed_modules=(*DEFAULT_ALLOWED_MODULES, "ipywidgets"),
        synthetic_modules={"IPython.display": display_module(), "IPython": {}, "sys": sys_module()},
    )


def notebook_builtins() -> dict[str, Any]:
    """Names every notebook cell can use without importing them."""
    members = display_module()
    return {"display": members["display"], "clear_output": members["clear_output"]}
