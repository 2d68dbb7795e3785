"""Checked versions of library functions that would read or write past the guards
(``operator.attrgetter``, ``functools.wraps``, ``dataclasses.dataclass``, ...), by module."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import functools
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from . import writes
from .guards import SafeFormatter, attribute_name_allowed, check_attribute_name, guarded_getattr
from .names import REFUSED_CLASS_NAMES, is_dunder, name_refusal
from .refusals import PolicyError
from .stand_ins import FUNCTION_TYPE, pattern_attribute_allowed


def guarded_attrgetter(*names: str) -> Callable[[Any], Any]:
    """``operator.attrgetter`` that checks every name on each dotted path."""
    for dotted in names:
        for part in dotted.split("."):
            check_attribute_name(part)

    def resolve(obj: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            obj = guarded_getattr(obj, part)
        return obj

    if len(names) == 1:
        return lambda obj: resolve(obj, names[0])
    return lambda obj: tuple(resolve(obj, n) for n in names)


def guarded_methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """``operator.methodcaller`` that checks the method name."""
    check_attribute_name(name)
    return lambda obj: guarded_getattr(obj, name)(*args, **kwargs)


def _checked_wrapper_names(assigned: Any, updated: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    assigned, updated = tuple(assigned), tuple(updated)
    for name in assigned + updated:
        check_attribute_name(name)
    if not set(assigned) <= set(functools.WRAPPER_ASSIGNMENTS) or updated not in (
        (),
        ("__dict__",),
    ):
        raise PolicyError(
            "update_wrapper()/wraps() copy only the standard attributes "
            f"({', '.join(functools.WRAPPER_ASSIGNMENTS)}; __dict__)"
        )
    return assigned, updated


def guarded_update_wrapper(
    wrapper: Any,
    wrapped: Any,
    assigned: Any = functools.WRAPPER_ASSIGNMENTS,
    updated: Any = functools.WRAPPER_UPDATES,
) -> Any:
    """``functools.update_wrapper`` that copies only the standard attributes, and only public
    or special entries of the wrapped object's ``__dict__`` that the policy lets a program read."""
    assigned, updated = _checked_wrapper_names(assigned, updated)
    writes.check_writable(wrapper, PolicyError)
    if isinstance(wrapper, type):  # it would take __module__ and __wrapped__, names a class
        raise PolicyError("update_wrapper: a class cannot be a wrapper")  # may not bind
    for name in assigned:
        try:
            value = getattr(wrapped, name)
        except AttributeError:
            continue
        setattr(wrapper, name, value)
    if updated:
        entries = getattr(wrapped, "__dict__", {})
        wrapper.__dict__.update(
            {
                k: v
                for k, v in dict(entries).items()
                if isinstance(k, str) and attribute_name_allowed(k)
            }
        )
    wrapper.__wrapped__ = wrapped
    return wrapper


def guarded_wraps(
    wrapped: Any,
    assigned: Any = functools.WRAPPER_ASSIGNMENTS,
    updated: Any = functools.WRAPPER_UPDATES,
) -> Callable[[Any], Any]:
    """``functools.wraps`` built on the checked ``update_wrapper``."""
    assigned, updated = _checked_wrapper_names(assigned, updated)
    return functools.partial(
        guarded_update_wrapper, wrapped=wrapped, assigned=assigned, updated=updated
    )


def _resolve_annotation(text: str, namespace: dict[str, Any]) -> Any:
    """A string annotation as a type, read without evaluating it: dotted names joined by ``|``."""
    resolved = []
    for part in text.split("|"):
        names = part.strip().split(".")
        if not all(n.isidentifier() and not n.startswith("_") for n in names):
            raise PolicyError(f"annotation {text!r} is not a plain dotted name; register(type)")
        table = namespace.get("__builtins__", {})
        table = table if isinstance(table, dict) else vars(table)
        if names[0] in namespace:
            obj = namespace[names[0]]
        elif names[0] in table:
            obj = table[names[0]]
        else:
            raise NameError(f"name {names[0]!r} is not defined")
        for name in names[1:]:
            obj = guarded_getattr(obj, name)
        resolved.append(obj)
    return functools.reduce(operator.or_, resolved)


def guarded_singledispatch(func: Callable[..., Any]) -> Callable[..., Any]:
    """``functools.singledispatch`` whose ``register`` reads a string annotation as a dotted
    name (the real one evaluates it with ``typing.get_type_hints``, past every guard)."""
    dispatcher = functools.singledispatch(func)
    register = dispatcher.register

    def checked_register(cls: Any, method: Any = None) -> Any:
        if not isinstance(cls, (type, types.UnionType)) and not callable(cls):
            if getattr(cls, "__annotations__", None):  # the real one evaluates them
                raise PolicyError("register(): an object's annotations are not evaluated")
            raise TypeError(f"invalid first argument to register(): {cls!r}")
        if (
            method is None
            and not isinstance(cls, (type, types.UnionType))
            and not (
                isinstance(cls, types.FunctionType) and cls.__module__ == writes.PROGRAM_MODULE
            )
        ):  # another's function: its annotations name things in a namespace not the program's
            raise PolicyError("register(): give the class, or a function of the program's")
        if method is None and not isinstance(cls, (type, types.UnionType)):
            annotations = dict(getattr(cls, "__annotations__", {}) or {})
            annotations.pop("return", None)
            if not annotations:
                raise TypeError(f"invalid first argument to register(): {cls!r}")
            first = next(iter(annotations.values()))
            if isinstance(first, str):
                first = _resolve_annotation(first, getattr(cls, "__globals__", {}))
            return register(first, cls)
        return register(cls, method)

    dispatcher.register = checked_register  # type: ignore[method-assign,assignment]
    return dispatcher


def _writing_into_own(
    function: Callable[..., Any], what: str, *, factory: bool = False
) -> Callable[..., Any]:
    """``function(obj, ...)`` that first checks the program may write into ``obj``; with
    ``factory``, also its decorator-factory form (``@dataclass(frozen=True)``)."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        if factory and not args:
            return lambda target: checked(target, **kwargs)
        if args:
            why = writes.refusal(args[0])
            if why is not None:
                raise PolicyError(f"{what}: {why}")
        return function(*args, **kwargs)

    checked.__name__ = checked.__qualname__ = function.__name__
    checked.__doc__ = function.__doc__
    return checked


def _readable_field(name: Any) -> bool:
    """Whether a dataclass field may have this name: one a program may read on any object (the
    generated ``__eq__``, ``asdict`` and ``pprint`` read fields natively, on whatever object
    they are handed), or a single-underscore name of the program's own; never a dunder, a
    mangled name, nor a refused or guarded one (``gi_frame``, ``f_back``, ``format``, ``obj``)."""
    if type(name) is not str or str.startswith(name, "__"):  # a str subclass may lie
        return False
    return str.startswith(name, "_") or pattern_attribute_allowed(name)


def unreadable_field(cls: Any) -> Any:
    """A name in ``cls``'s dataclass field table (a key, or a field's own ``name``, which the
    library reads with the real ``getattr``) that a program may not read, or None."""
    table = getattr(cls, "__dataclass_fields__", None)
    if not isinstance(table, dict):
        return None
    for key, field in dict(table).items():
        if type(field) is not dataclasses.Field:  # a Field's name cannot change; another's can
            return key
        for name in (key, field.name):
            if not _readable_field(name):
                return name
    return None


def _field_names_checked(cls: Any) -> Any:
    """``cls``, once every dataclass field name it has is one a program may read (the library
    reads fields with the real ``getattr``: ``replace``, ``asdict`` and ``astuple`` would read a
    field named ``__traceback__``)."""
    name = unreadable_field(cls)
    if name is not None:
        raise PolicyError(f"dataclass(): field name {name!r} is not allowed")
    return cls


def guarded_dataclass(cls: Any = None, /, **kwargs: Any) -> Any:
    """``dataclasses.dataclass`` into the program's own classes, with field names a program may
    read."""
    if cls is None:
        return lambda target: guarded_dataclass(target, **kwargs)
    notes = vars(cls).get("__annotations__", {}) if isinstance(cls, type) else {}
    if type(notes) is not dict:  # the library reads whatever it is given, and would go on
        raise PolicyError("dataclass(): __annotations__ must be a plain dict")
    for name in notes:
        if not _readable_field(name):  # before the class is changed
            raise PolicyError(f"dataclass(): field name {name!r} is not allowed")
    return _receivers_checked(_field_names_checked(_plain_dataclass(cls, **kwargs)))


#: The methods ``dataclass()`` generates that read or write fields natively, by name, on their
#: receiver (its ``__init__`` writes them: ``vars(D)['__init__'](json.JSONEncoder, f)`` had
#: replaced ``JSONEncoder.encode`` for the process).
GENERATED_READERS = (
    "__init__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__repr__", "__hash__",
    "__setattr__", "__delattr__",
)  # fmt: skip


def _receivers_checked(cls: Any) -> Any:
    """``cls``, its field-reading methods taking only its own instances as ``self``: called
    unbound on another object (``D.__eq__(library_object, ...)``) they would read that object's
    attributes of the fields' names past every guard."""
    for name in GENERATED_READERS:
        method = vars(cls).get(name)
        if isinstance(method, types.FunctionType):
            type.__setattr__(cls, name, _own_receiver(cls, method))
    return cls


def _own_receiver(cls: type, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` for instances of ``cls`` only."""

    def checked(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(self, cls):
            raise PolicyError(f"{cls.__name__}.{method.__name__} is for {cls.__name__} objects")
        return method(self, *args, **kwargs)

    checked.__name__, checked.__qualname__ = method.__name__, method.__qualname__
    checked.__doc__ = method.__doc__
    return checked


_plain_dataclass = _writing_into_own(dataclasses.dataclass, "dataclass()", factory=True)


def guarded_make_dataclass(cls_name: str, fields: Any, *, namespace: Any = None, **kw: Any) -> Any:
    """``dataclasses.make_dataclass`` whose class belongs to the program, with a namespace of
    names a class body could define."""
    entries = dict(namespace or {})
    for key in entries:
        if (
            type(key) is not str
            or name_refusal(key) is not None
            or key in REFUSED_CLASS_NAMES
            or key in ("__module__", "__exit__")  # a class statement's __exit__ gets cut tracebacks
        ):
            raise PolicyError(f"make_dataclass: namespace entry {key!r} is not allowed")
    entries["__module__"] = writes.PROGRAM_MODULE
    if "module" in kw:
        raise PolicyError("make_dataclass: the class's module is the program's")
    if any(isinstance(b, type) and issubclass(b, type) for b in kw.get("bases", ())):
        raise PolicyError("make_dataclass: a metaclass (a subclass of type) is not allowed")
    fields = list(fields)
    for field in fields:
        name = field if isinstance(field, str) else field[0] if isinstance(field, tuple) else None
        if not _readable_field(name):
            raise PolicyError(f"make_dataclass: field name {name!r} is not allowed")
    return _receivers_checked(dataclasses.make_dataclass(cls_name, fields, namespace=entries, **kw))


def _reading_fields(function: Callable[..., Any]) -> Callable[..., Any]:
    """A ``dataclasses`` function that reads an instance's fields by the names its class's
    ``__dataclass_fields__`` gives (the real ``getattr``): refused where a name is one a program
    may not read, as a class body can plant any table there."""

    @functools.wraps(function)
    def checked(obj: Any, *args: Any, **kwargs: Any) -> Any:
        # The table the library reads: an instance's own first (``fields(obj)`` reads it there).
        name = unreadable_field(obj)
        if name is None and not isinstance(obj, type):
            name = unreadable_field(type(obj))
        if name is not None:
            raise PolicyError(f"dataclasses: field name {name!r} is not allowed")
        return function(obj, *args, **kwargs)

    return checked


def replace_members(module: str, members: dict[str, Any]) -> None:
    """Give restricted code checked versions of some of ``module``'s members."""
    REPLACED_MEMBERS.setdefault(module, {}).update(members)


def guarded_deepcopy(x: Any, memo: Any = None, _nil: Any = None) -> Any:
    """``copy.deepcopy`` without a memo from the program: a memo of its own (a dict subclass, a
    planted keep-alive list) would hand it the originals the copy walks through."""
    if memo is not None or _nil is not None:
        raise PolicyError("copy.deepcopy takes no memo under the restricted policy")
    return copy.deepcopy(x)


def guarded_copy(x: Any) -> Any:
    """``copy.copy``, except that a bound method is given back as it is: its reduction is the
    real ``getattr`` of its ``__self__`` by its ``__name__``, both of which a program can choose
    (``types.MethodType``, a function's writable name), so copying one read any attribute."""
    if isinstance(x, types.MethodType):
        return x  # immutable: the copy would be an equal method
    return copy.copy(x)


# Members replaced in module snapshots, by module name.
REPLACED_MEMBERS: dict[str, dict[str, Any]] = {
    "operator": {"attrgetter": guarded_attrgetter, "methodcaller": guarded_methodcaller},
    "functools": {
        "update_wrapper": guarded_update_wrapper,
        "wraps": guarded_wraps,
        "singledispatch": guarded_singledispatch,
    },
    "string": {"Formatter": SafeFormatter},
    "copy": {"copy": guarded_copy, "deepcopy": guarded_deepcopy},
    "dataclasses": {
        "dataclass": guarded_dataclass,
        "make_dataclass": guarded_make_dataclass,
        **{
            name: _reading_fields(getattr(dataclasses, name))
            for name in ("replace", "asdict", "astuple", "fields")
        },
    },
    "typing": {
        "final": _writing_into_own(typing.final, "final()"),
        "no_type_check": _writing_into_own(typing.no_type_check, "no_type_check()"),
        "runtime_checkable": _writing_into_own(typing.runtime_checkable, "runtime_checkable()"),
    },
}
REPLACED_MEMBERS["functools"]["total_ordering"] = _writing_into_own(
    functools.total_ordering, "total_ordering()"
)


_real_create = getattr(enum.EnumType, "_create_")  # noqa: B009 - private to enum, not typed


def _checked_create(cls: Any, class_name: Any, names: Any, **kwargs: Any) -> Any:
    """``Enum('X', names)`` with member names that are not special: the functional API puts a
    dunder "member" into the class as a plain attribute (``__reduce_ex__``, ``__match_args__``,
    ``__dataclass_fields__``), which a class statement may not define."""
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    elif isinstance(names, Mapping):
        names = list(names.items())
    elif names is not None:
        names = list(names)
    for item in names or ():
        name = item if isinstance(item, str) else item[0] if isinstance(item, tuple) else None
        if type(name) is not str or is_dunder(name):  # a str subclass's methods may lie
            raise PolicyError(f"enum {class_name!r}: a member may not be named {name!r}")
    return _real_create(cls, class_name, names, **kwargs)


def install_enum_check() -> None:
    """Make the functional ``Enum`` API refuse special names (once per process; members of
    enums made that way are never special names)."""
    if getattr(enum.EnumType, "_create_") is not _checked_create:  # noqa: B009
        setattr(enum.EnumType, "_create_", _checked_create)  # noqa: B010


def cell_traceback(tb: types.TracebackType | None, namespace: dict[str, Any]) -> Any:
    """``tb`` with only the entries of frames that run the program's own code."""
    entries = []
    while tb is not None:
        if tb.tb_frame.f_globals is namespace:
            entries.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    cut = None
    for frame, lasti, lineno in reversed(entries):
        cut = types.TracebackType(cut, frame, lasti, lineno)
    return cut


def _program_namespace(callback: Any) -> dict[str, Any] | None:
    """The namespace of the program's code behind ``callback`` (a function, a method, a
    partial, an object of a program class with ``__call__``), or None."""
    for _ in range(8):
        if isinstance(callback, types.MethodType):
            callback = callback.__func__
        elif isinstance(callback, functools.partial):
            callback = callback.func
        elif isinstance(callback, types.FunctionType):
            return callback.__globals__ if callback.__module__ == writes.PROGRAM_MODULE else None
        else:
            callback = getattr(type(callback), "__call__", None)  # noqa: B004
    return None


class ExitStack(contextlib.ExitStack):
    """``contextlib.ExitStack`` whose exit callbacks get the traceback cut to the program's own
    frames when they are the program's code (as a class's ``__exit__`` does), and none when
    they cannot be told to be (an ``lru_cache`` wrapper, a library context manager's exit)."""

    def _push_exit_callback(self, callback: Any, is_sync: bool = True) -> None:
        namespace = _program_namespace(callback)  # None: no traceback at all (fails closed)

        def cut(kind: Any, exc: Any, tb: Any, /) -> Any:
            held = cell_traceback(tb, namespace) if tb is not None and namespace else None
            return callback(kind, exc, held)

        super()._push_exit_callback(cut, is_sync)  # type: ignore[misc]


replace_members("contextlib", {"ExitStack": ExitStack})


replace_members("types", {"FunctionType": FUNCTION_TYPE, "LambdaType": FUNCTION_TYPE})
