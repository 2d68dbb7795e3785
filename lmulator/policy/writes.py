"""Which objects restricted code may write into: what it created, never shared state.

A program may set attributes on its own classes, functions and instances, and on fresh
instances of library classes (``types.SimpleNamespace()``). It may not write into classes,
functions or modules it did not define, into ``typing`` aliases (their ``__setattr__`` writes the
real class behind them: ``typing.Mapping.get = f`` would change ``collections.abc.Mapping``), or
into objects an allowed module holds as globals (``dataclasses.MISSING``,
``decimal.DefaultContext``): those are shared with the engine and the kernel.

The same rule holds where library code writes on the program's behalf: ``copy`` applies a
``__reduce__`` state only to an object the program may write (see :func:`install_copy_check`),
and the checked ``functools``/``dataclasses``/``typing`` wrappers call :func:`check_writable`.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import Refusal
from .names import WRITABLE_DUNDER_ATTRIBUTES, is_dunder
from .refusals import PolicyError

#: The module name restricted code runs as; its classes and functions carry it.
PROGRAM_MODULE = "__main__"

#: Kinds of object that are written only when the program made them.
SENSITIVE_TYPES: tuple[type, ...] = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
)

#: ``typing`` objects whose attribute writes land on another object.
_ALIAS_TYPES: tuple[type, ...] = tuple(
    t
    for t in (getattr(typing, "_BaseGenericAlias", None), getattr(typing, "_SpecialForm", None))
    if isinstance(t, type)
)

#: Library objects that library code reads names or callables from and trusts: a program's
#: ``field()`` renamed ``__traceback__`` would make ``dataclasses.replace`` (and ``pprint``, which
#: walks fields with the real functions) read the attribute of that name.
LIBRARY_RECORD_TYPES: tuple[type, ...] = (dataclasses.Field,)

# ids of objects that allowed modules hold as globals, and their types (whose instances are
# checked one by one instead of by type).
_shared_ids: set[int] = set()
_shared_types: set[type] = set()
_shared_keep: list[Any] = []
# Per-guard caches of writable types, emptied of a type once an instance of it is shared.
_type_caches: weakref.WeakSet[Any] = weakref.WeakSet()


class WriteRefused(Refusal, Exception):
    """Base of the refusal raised when a program writes into an object it may not."""


def register_shared(values: Iterable[Any]) -> None:
    """Mark ``values`` (a module's globals) as shared state a program may not write into."""
    new_types = set()
    for value in values:
        if isinstance(value, SENSITIVE_TYPES) or isinstance(
            value, (int, float, complex, str, bytes, bool, tuple, frozenset, type(None))
        ):
            continue  # refused by kind, or has no attributes to write
        if id(value) not in _shared_ids:
            _shared_ids.add(id(value))
            _shared_keep.append(value)  # keeps the id from being reused
            new_types.add(type(value))
    new_types -= _shared_types
    if new_types:
        _shared_types.update(new_types)
        for holder in list(_type_caches):
            holder.writable_types.difference_update(new_types)


def track_type_cache(holder: Any) -> None:
    """Keep ``holder.writable_types`` clear of types that later turn out to have shared
    instances."""
    _type_caches.add(holder)


def refusal(obj: Any, module: str = PROGRAM_MODULE, namespace: dict | None = None) -> str | None:
    """Why a program may not write into ``obj``, or None if it may."""
    if isinstance(obj, type):
        if obj.__module__ == module:
            return None
        return f"cannot modify class {obj.__name__!r}: it was not defined here"
    if isinstance(obj, types.FunctionType):
        mine = obj.__globals__ is namespace if namespace is not None else obj.__module__ == module
        if mine:
            return None
        return f"cannot modify function {obj.__name__!r}: it was not defined here"
    if isinstance(obj, types.ModuleType):
        return f"cannot modify module {obj.__name__!r}"
    if isinstance(obj, SENSITIVE_TYPES):
        return f"cannot modify {type(obj).__name__} objects"
    if _ALIAS_TYPES and isinstance(obj, _ALIAS_TYPES):
        return "cannot modify typing aliases (a write would land on the class behind them)"
    if isinstance(obj, LIBRARY_RECORD_TYPES):
        return (
            f"cannot modify {type(obj).__name__} objects (library code reads them as it finds them)"
        )
    if id(obj) in _shared_ids:
        return f"cannot modify this {type(obj).__name__}: a module holds it, it is shared"
    return None


def type_is_cacheable(cls: type) -> bool:
    """Whether every instance of ``cls`` may be written once one may (no shared instances)."""
    return (
        cls not in _shared_types
        and not (_ALIAS_TYPES and issubclass(cls, _ALIAS_TYPES))
        and not issubclass(cls, LIBRARY_RECORD_TYPES)
    )


def check_writable(obj: Any, make_error: Callable[[str], Exception] | None = None) -> Any:
    """Return ``obj`` if a program may write into it, else raise."""
    why = refusal(obj)
    if why is not None:
        raise (make_error or WriteRefused)(why)
    return obj


_real_reconstruct = copy._reconstruct  # type: ignore[attr-defined]


def _checked_reconstruct(x: Any, memo: Any, func: Any, args: Any, *rest: Any, **kw: Any) -> Any:
    """``copy._reconstruct`` that applies a state only to an object a program may write, by
    names a program could set (no special name but a few), and, where the recipe is the
    program's (its object's class is its own), only to an instance of a class of its own."""
    state = rest[0] if rest else kw.get("state")
    if state is None:
        return _real_reconstruct(x, memo, func, args, *rest, **kw)
    programs = getattr(type(x), "__module__", None) == PROGRAM_MODULE

    def make(*a: Any) -> Any:
        made = func(*a)
        why = refusal(made)
        if why is None and isinstance(made, SENSITIVE_TYPES):
            why = f"a state is never applied to a {type(made).__name__}"
        if why is None and not hasattr(made, "__setstate__"):
            _check_state_names(type(x).__name__, state)  # copy writes it in with setattr
        if why is None and programs and getattr(type(made), "__module__", None) != PROGRAM_MODULE:
            why = f"a {type(made).__name__} is not an object of the program's own classes"
        if why is not None:
            raise PolicyError(
                f"copy: {type(x).__name__}.__reduce__ gave a state for an object the program "
                f"may not write ({why})"
            )
        return made

    return _real_reconstruct(x, memo, make, args, *rest, **kw)


def _check_state_names(owner: str, state: Any) -> None:
    """Refuse a ``__reduce__`` state that names an attribute a program could not set."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in parts:
        if part is not None and type(part) is not dict:  # copy calls .items() on what it gets
            raise PolicyError(f"copy: {owner}.__reduce__ gave a state that is not a plain dict")
        for name in part or ():
            if type(name) is not str or (
                is_dunder(name) and name not in WRITABLE_DUNDER_ATTRIBUTES
            ):
                raise PolicyError(f"copy: {owner}.__reduce__ gave a state naming {name!r}")


def install_copy_check() -> None:
    """Make ``copy`` apply ``__reduce__`` states only to objects a program may write (once per
    process; the check changes nothing for objects whose reconstruction builds a new object)."""
    if copy._reconstruct is not _checked_reconstruct:  # type: ignore[attr-defined]
        copy._reconstruct = _checked_reconstruct  # type: ignore[attr-defined]
