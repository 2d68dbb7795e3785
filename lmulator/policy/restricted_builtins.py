"""The builtins restricted code runs with, and the ``sys`` it sees."""

from __future__ import annotations

import builtins
import sys
import types
from collections.abc import Callable
from typing import Any

from .guards import RestrictedType, WriteGuard, guarded_getattr, guarded_hasattr, guarded_vars
from .library import cell_traceback
from .modules import ModuleGate
from .refusals import PolicyError
from .writes import PROGRAM_MODULE


def _set_recursion_limit(limit: int) -> None:
    """``sys.setrecursionlimit`` for restricted code, capped so that the C stack cannot
    overflow (which would end the whole process)."""
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError("an integer is required")
    sys.setrecursionlimit(min(max(limit, 100), MAX_RECURSION_LIMIT))


MAX_RECURSION_LIMIT = 10_000


class StreamWriter:
    """A write-only stand-in for ``sys.stdout``/``sys.stderr``: it reaches nothing else."""

    _name: str

    def __init__(self, name: str) -> None:
        if name not in ("stdout", "stderr"):
            raise PolicyError("a stream stand-in is for sys.stdout or sys.stderr only")
        object.__setattr__(self, "_name", name)

    def write(self, text: str) -> int:
        """Write to the current stream of that name."""
        return getattr(sys, self._name).write(text)

    def flush(self) -> None:
        """Flush the current stream of that name."""
        getattr(sys, self._name).flush()

    def __setattr__(self, name: str, value: Any) -> None:
        raise PolicyError(f"cannot modify sys.{self._name}")

    def __repr__(self) -> str:
        return f"<sys.{self._name}>"


def sys_module() -> dict[str, Any]:
    """The members of ``sys`` restricted code sees: output streams and version facts."""
    return {
        "stdout": StreamWriter("stdout"),
        "stderr": StreamWriter("stderr"),
        "version": sys.version,
        "version_info": tuple(sys.version_info),
        "platform": sys.platform,
        "maxsize": sys.maxsize,
        "maxunicode": sys.maxunicode,
        "byteorder": sys.byteorder,
        "float_info": sys.float_info,
        "int_info": sys.int_info,
        "hash_info": sys.hash_info,
        "argv": [],
        "getsizeof": sys.getsizeof,
        "getrecursionlimit": sys.getrecursionlimit,
        "setrecursionlimit": _set_recursion_limit,
    }


class GuardedSuper(super):
    """``super`` for restricted code: through the program's own classes only (``super(T, obj)``
    with a library's ``T`` would reach the methods a checked subclass overrides, such as the real
    ``string.Formatter.get_field``). The zero-argument form works as ever."""

    def __getattribute__(self, name: str) -> Any:
        start = super.__getattribute__(self, "__thisclass__")
        if not (isinstance(start, type) and start.__module__ == PROGRAM_MODULE):
            raise PolicyError(
                f"super({getattr(start, '__name__', start)}, ...) is not allowed: "
                "super() goes through the program's own classes only"
            )
        return super.__getattribute__(self, name)


GuardedSuper.__name__ = GuardedSuper.__qualname__ = "super"


def check_class(cls: Any) -> None:
    """Refuse a metaclass (a subclass of ``type``) made by a program: its ``__eq__``,
    ``__hash__`` or ``__instancecheck__`` would answer for its classes wherever they are compared
    (the guards' caches of types included)."""
    if isinstance(cls, type) and issubclass(cls, type):
        raise PolicyError(
            f"class {cls.__name__!r}: a metaclass (a subclass of type) is not allowed"
        )


def build_class_for(namespace: dict[str, Any]) -> Callable[..., Any]:
    """``__build_class__`` for restricted code: a class's ``__exit__`` receives tracebacks cut
    to the program's own frames (never the engine's or a library's)."""

    def build_class(func: Any, name: Any, *bases: Any, **kwargs: Any) -> Any:
        cls = builtins.__build_class__(func, name, *bases, **kwargs)
        check_class(cls)
        exit_ = vars(cls).get("__exit__") if isinstance(cls, type) else None
        if exit_ is not None:
            # Whatever kind of object the class holds (a function, a staticmethod, a partial
            # method, another object's bound method): it is called with the cut traceback.
            bind = getattr(type(exit_), "__get__", None)

            def __exit__(self: Any, exc_type: Any, exc: Any, tb: Any, /) -> Any:
                if tb is not None:
                    tb = cell_traceback(tb, namespace)
                target = bind(exit_, self, type(self)) if bind is not None else exit_
                return target(exc_type, exc, tb)

            if isinstance(exit_, types.FunctionType):  # its name and text, never its module
                __exit__.__name__, __exit__.__doc__ = exit_.__name__, exit_.__doc__
                __exit__.__qualname__ = exit_.__qualname__
            try:
                type.__setattr__(cls, "__exit__", __exit__)
            except (TypeError, AttributeError):
                pass  # a metaclass that refuses it: the class keeps its own __exit__
        return cls

    return build_class


def restricted_builtins(
    gate: ModuleGate, write_guard: WriteGuard, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The builtins dict restricted code runs with."""
    names = [
        "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable",
        "chr", "classmethod", "complex", "dict", "dir", "divmod", "enumerate", "filter",
        "float", "format", "frozenset", "hash", "hex", "id", "input", "int", "isinstance",
        "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object", "oct",
        "ord", "pow", "print", "property", "range", "repr", "reversed", "round", "set",
        "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "zip",
        "True", "False", "None", "NotImplemented", "Ellipsis",
    ]  # fmt: skip
    table: dict[str, Any] = {n: getattr(builtins, n) for n in names}
    for n, v in vars(builtins).items():
        if isinstance(v, type) and issubclass(v, BaseException) and not n.startswith("_"):
            table[n] = v
    table.update(
        {
            "__build_class__": build_class_for(write_guard.namespace),
            "__import__": gate.import_,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "setattr": write_guard.setattr,
            "delattr": write_guard.delattr,
            "type": RestrictedType,
            "super": GuardedSuper,
            "vars": guarded_vars,
            "PolicyError": PolicyError,
        }
    )
    if extra:
        table.update(extra)
    return table
