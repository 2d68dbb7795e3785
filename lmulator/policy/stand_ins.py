"""What a program holds in place of real objects: types it may test against but not call
(the class of functions), the classes its class patterns match against (a checked copy of
``__match_args__``), and read-only copies of the containers another's function or class holds."""

from __future__ import annotations

import types
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from .names import REFUSED_ATTRIBUTES, RUNTIME_GUARDED_ATTRIBUTES
from .refusals import PolicyError


class _TypeForChecks(type):
    """The class of a stand-in for a type a program may test against but not call."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls.__lmulator_real__)  # type: ignore[attr-defined]

    def __subclasscheck__(cls, sub: Any) -> bool:
        return issubclass(sub, cls.__lmulator_real__)  # type: ignore[attr-defined]

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise PolicyError(
            f"{cls.__name__}(...) is not available under the restricted policy: it would "
            "run code the policy did not compile (isinstance checks work)"
        )


def for_checks(real: type) -> Any:
    """A stand-in for ``real`` that ``isinstance``/``issubclass`` accept and that refuses to be
    called."""
    return _TypeForChecks(real.__name__, (), {"__lmulator_real__": real, "__module__": "types"})


#: The class of functions as a program sees it, through ``types`` and through ``type(f)``.
FUNCTION_TYPE = for_checks(types.FunctionType)


HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made at run time, whose attributes can change


class _MatchStandIn(type):
    """The class of a pattern's stand-in: ``isinstance`` is the real class's answer."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls.__lmulator_real__)  # type: ignore[attr-defined]

    def __subclasscheck__(cls, sub: Any) -> bool:
        return issubclass(sub, cls.__lmulator_real__)  # type: ignore[attr-defined]


def read_only(value: Any) -> Any:
    """A copy of a held container that writes cannot reach back through: a mapping as a
    read-only view of a copy, a tuple of copies of its lists, sets and dicts."""
    if isinstance(value, dict):
        return types.MappingProxyType(dict(value))
    if isinstance(value, tuple):
        return tuple(
            types.MappingProxyType(dict(v)) if isinstance(v, dict)
            else tuple(v) if isinstance(v, list)
            else frozenset(v) if isinstance(v, set)
            else v
            for v in value
        )  # fmt: skip
    return value


def check_match_class(cls: Any, positional: int) -> Any:
    """What a class pattern with ``positional`` sub-patterns matches against in place of
    ``cls``: a built-in class as it is (it cannot change); any other, a stand-in holding a copy
    of its ``__match_args__``, checked to name only attributes a program may read, that answers
    ``isinstance`` as ``cls`` does. CPython reads ``__match_args__`` again each time a case is
    tried, after program code (the subject, guards) has run: the copy cannot change."""
    if not isinstance(cls, type) or not cls.__flags__ & HEAPTYPE:
        return cls  # a built-in class, or not a class (Python refuses it with its TypeError)
    names = getattr(cls, "__match_args__", None)
    if names is not None:
        if type(names) is not tuple:
            raise PolicyError(f"{cls.__name__}.__match_args__ must be a tuple")
        names = tuple(str.__str__(n) if type(n) is str else n for n in names)
        for name in names[:positional]:
            if type(name) is not str or not pattern_attribute_allowed(name):
                raise PolicyError(
                    f"a class pattern may not read {name!r} ({cls.__name__}.__match_args__)"
                )
    # A class that matches itself (a subclass of int, str, ...) keeps that through its base.
    base = next((b for b in cls.__mro__ if not b.__flags__ & HEAPTYPE), object)
    body: dict[str, Any] = {"__lmulator_real__": cls, "__module__": __name__}
    if names is not None:
        body["__match_args__"] = names
    try:
        return _MatchStandIn(cls.__name__, (base,), body)
    except TypeError:  # a base that cannot be subclassed: no stand-in, so no match
        raise PolicyError(f"a class pattern cannot match {cls.__name__} here") from None


def pattern_attribute_allowed(name: str) -> bool:
    """Whether a class pattern may read this attribute (it reads past every guard)."""
    return not (
        name.startswith("_")
        or name in REFUSED_ATTRIBUTES
        or name in INSPECT_ATTRIBUTES
        or name in RUNTIME_GUARDED_ATTRIBUTES
    )
