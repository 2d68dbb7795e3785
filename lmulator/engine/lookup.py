"""Looking names up as a running program would, and rendering calls as the LM sees them."""

from __future__ import annotations

from typing import Any

from ..policy.guards import guarded_getattr
from .trace import short_repr

#: What `lookup` returns for a name that is still undefined.
MISSING: Any = object()


def lookup(namespace: dict[str, Any], dotted: str, restricted: bool) -> Any:
    """The current value of a (dotted) name, or MISSING if its root is still undefined."""
    root, *rest = dotted.split(".")
    if root in namespace:
        value = namespace[root]
    else:
        builtins_ = namespace.get("__builtins__", {})
        table = builtins_ if isinstance(builtins_, dict) else vars(builtins_)
        if root not in table:
            return MISSING
        value = table[root]
    getter = guarded_getattr if restricted else getattr
    for part in rest:
        value = getter(value, part)
    return value


def render_call(name: str, args: tuple, kwargs: dict) -> str:
    """``name(arg reprs, key=repr)`` as the LM will see it."""
    parts = [short_repr(a) for a in args]
    parts += [f"{k}={short_repr(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
