"""Runtime guards for restricted code: attribute reads and writes, formatting, imports."""

from __future__ import annotations

import _string
import abc
import builtins
import collections
import dataclasses
import functools
import importlib
import operator
import string
import sys
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, cast

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from . import exposed_modules, writes
from .names import REFUSED_ATTRIBUTES, WRITABLE_DUNDER_ATTRIBUTES, is_dunder, name_refusal
from .refusals import ImportRefused, PolicyError

# Dunder attributes that restricted code may read: they give back bound methods or
# plain strings, never a way to the interpreter's internals.
ALLOWED_DUNDER_ATTRIBUTES = frozenset(
    {
        "__init__",
        "__name__",
        "__qualname__",
        "__doc__",
        "__str__",
        "__repr__",
        "__len__",
        "__iter__",
        "__next__",
        "__contains__",
        "__getitem__",
        "__setitem__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__enter__",
        "__exit__",
    }
)

# Attribute names whose static reads still go through the runtime guard, because
# what they return depends on the object (str.format walks attributes; an
# AttributeError's ``obj`` hands out the object whose access failed).
# A host (the Jupyter kernel) registers the packages of its machinery and the attributes through
# which their objects reach it (``register_host``); the engine alone knows none, so in the CLI
# ``math.log`` is a plain attribute read.
HOST_ATTRIBUTES: set[str] = set()
HOST_PACKAGES: set[str] = set()
#: Host attributes given back in a checked form instead of refused.
HOST_CHECKED: dict[str, Callable[[Any], Any]] = {}
RUNTIME_GUARDED_ATTRIBUTES: set[str] = {
    "format", "format_map", "obj", "__dict__", "__class__", "register",
}  # fmt: skip


def register_host(
    packages: Iterable[str],
    attributes: Iterable[str],
    checked: dict[str, Callable[[Any], Any]] | None = None,
) -> None:
    """Refuse ``attributes`` on objects of ``packages`` (or give the ``checked`` form)."""
    HOST_PACKAGES.update(packages)
    attributes = set(attributes)
    HOST_ATTRIBUTES.update(attributes)
    RUNTIME_GUARDED_ATTRIBUTES.update(attributes)
    HOST_CHECKED.update(checked or {})


def attribute_name_allowed(name: str) -> bool:
    """Whether restricted code may read an attribute with this (computed) name: not one of the
    policy's refused attributes, and not a private one (``obj._x`` spelled out is checked by
    receiver instead)."""
    if name in REFUSED_ATTRIBUTES or name in INSPECT_ATTRIBUTES or name.endswith("__roles__"):
        return False
    return is_dunder(name) or not name.startswith("_")


def _check_attribute_name(name: object) -> str:
    if type(name) is not str:
        raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
    if not attribute_name_allowed(name):
        raise PolicyError(f'access to attribute "{name}" is not allowed')
    return name


def _check_written_name(name: object) -> str:
    """An attribute name restricted code may set or delete (no special attribute but a few)."""
    checked = _check_attribute_name(name)
    if is_dunder(checked) and checked not in WRITABLE_DUNDER_ATTRIBUTES:
        raise PolicyError(f'special attribute "{checked}" cannot be assigned or deleted')
    if checked.startswith("_") and not is_dunder(checked):
        raise PolicyError(f'private attribute "{checked}" cannot be set by name')
    return checked


class SafeFormatter(string.Formatter):
    """A ``string.Formatter`` whose replacement fields may only reach allowed attributes."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        """Resolve one replacement field, checking every attribute on its path."""
        first, rest = _formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            if is_attr:
                obj = guarded_getattr(obj, key)
            else:
                obj = obj[key]
        return obj, first


def _formatter_field_name_split(field_name: str) -> tuple[Any, Iterable[tuple[bool, Any]]]:
    # The parser str.format itself uses.
    return _string.formatter_field_name_split(field_name)


_SAFE_FORMATTER = SafeFormatter()


def safe_format(template: str, /, *args: Any, **kwargs: Any) -> str:
    """``str.format`` whose fields cannot walk to private attributes."""
    if not isinstance(template, str):
        raise TypeError("format() needs a str")
    return _SAFE_FORMATTER.vformat(template, args, kwargs)


def safe_format_map(template: str, mapping: Any, /) -> str:
    """``str.format_map`` whose fields cannot walk to private attributes."""
    if not isinstance(template, str):
        raise TypeError("format_map() needs a str")
    return _SAFE_FORMATTER.vformat(template, (), mapping)


_PLAIN_TEMPLATES: dict[str, bool] = {}
_PLAIN_TEMPLATE_CACHE_SIZE = 4096


def template_is_plain(template: str) -> bool:
    """Whether a format template's fields name arguments only (no attribute or item walks)."""
    known = _PLAIN_TEMPLATES.get(template)
    if known is not None:
        return known
    try:
        plain = all(
            field is None or ("." not in field and "[" not in field and "{" not in (spec or ""))
            for _, field, spec, _ in _string.formatter_parser(template)
        )
    except ValueError:
        plain = False  # let the safe formatter report the malformed template
    if len(_PLAIN_TEMPLATES) < _PLAIN_TEMPLATE_CACHE_SIZE:
        _PLAIN_TEMPLATES[template] = plain
    return plain


def static_getattr(obj: Any, name: str) -> Any:
    """Attribute read for the few statically named attributes whose safety depends on the object."""
    if name == "format" or name == "format_map":
        if type(obj) is str:  # the common case first
            if template_is_plain(obj):
                return getattr(obj, name)
            return functools.partial(safe_format if name == "format" else safe_format_map, obj)
        safe = safe_format if name == "format" else safe_format_map
        if isinstance(obj, collections.UserString):
            obj = obj.data  # its format() calls the real str.format on its data
        if isinstance(obj, str):
            template = str.__str__(obj)  # a subclass's own text, whatever it overrides
            if type(obj) is not str and name in vars(type(obj)).keys() - vars(str).keys():
                return getattr(obj, name)  # the program's own format method
            if template_is_plain(template):
                return getattr(template, name)
            return functools.partial(safe, template)
        if isinstance(obj, type) and issubclass(obj, str):
            return safe
        if isinstance(obj, super):
            raise PolicyError(f'access to "{name}" through super() is not allowed')
    elif name == "__class__":
        return guarded_type(obj)
    elif name == "__dict__":
        if not _made_by_program(obj):
            raise PolicyError(
                f'access to "__dict__" of {type(obj).__name__} objects is not allowed: '
                "the program did not create them"
            )
    elif name == "obj" and isinstance(obj, BaseException):
        raise PolicyError('access to attribute "obj" of an exception is not allowed')
    elif name == "register" and isinstance(obj, abc.ABCMeta):
        why = writes.refusal(obj)  # Sized.register(int) changes isinstance for the whole process
        if why is not None:
            raise PolicyError(f"{obj.__name__}.register: {why}")
    elif name in HOST_ATTRIBUTES:
        package = (getattr(type(obj), "__module__", None) or "").partition(".")[0]
        if package in HOST_PACKAGES:
            if name in HOST_CHECKED:
                return HOST_CHECKED[name](obj)
            raise PolicyError(
                f'access to attribute "{name}" of {type(obj).__name__} is not allowed'
            )
    return getattr(obj, name)


def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` for restricted code."""
    _check_attribute_name(name)
    if name in RUNTIME_GUARDED_ATTRIBUTES:
        try:
            return static_getattr(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise
    return getattr(obj, name, *default)


def guarded_hasattr(obj: Any, name: str) -> bool:
    """``hasattr`` for restricted code."""
    try:
        guarded_getattr(obj, name)
    except (AttributeError, PolicyError):
        return False
    return True


def _made_by_program(obj: Any) -> bool:
    """Whether ``obj`` is an instance of a class, a class, or a function the program defined."""
    namespace_module = writes.PROGRAM_MODULE
    if isinstance(obj, type):
        return obj.__module__ == namespace_module
    if isinstance(obj, types.FunctionType):
        return obj.__module__ == namespace_module
    cls = type(obj)
    return getattr(cls, "__module__", None) == namespace_module and not isinstance(
        obj, (types.ModuleType, types.BuiltinFunctionType)
    )


class PrivateGuard:
    """Decides on which objects restricted code may use private attributes (``_x``, ``__x``):
    instances of its own classes, its classes and its functions; never a module's or a library
    object's internals. ``ok_types`` caches the types that passed, for the inline fast path."""

    def __init__(self, user_module_name: str, namespace: dict[str, Any]) -> None:
        self.user_module_name = user_module_name
        self.namespace = namespace
        self.ok_types: set[type] = set()
        self.check = self._make_check()

    def _make_check(self) -> Callable[[Any], Any]:
        ok = self.ok_types
        module = self.user_module_name
        namespace = self.namespace

        def check(obj: Any) -> Any:
            """Return ``obj`` if restricted code may use its private attributes, else raise."""
            cls = type(obj)
            if cls in ok:
                return obj
            if isinstance(obj, super):
                check(cast(Any, obj).__self__)  # super()._helper() on the program's own
                return obj
            if isinstance(obj, type):
                if obj.__module__ == module:
                    return obj
            elif isinstance(obj, types.FunctionType):
                if obj.__globals__ is namespace:
                    return obj
            elif isinstance(obj, types.MethodType):
                check(obj.__self__)
                return obj
            elif getattr(cls, "__module__", None) == module:
                ok.add(cls)
                return obj
            raise PolicyError(
                f"private attributes of {cls.__name__} objects are not available: the program "
                "did not create them"
            )

        return check


class WriteGuard:
    """Decides which objects restricted code may set or delete attributes on (the rule is in
    :mod:`lmulator.policy.writes`).

    ``writable_types`` caches the types whose instances passed the check, so that
    instrumented code can skip the call for them.
    """

    def __init__(self, user_module_name: str, namespace: dict[str, Any]) -> None:
        self.user_module_name = user_module_name
        self.namespace = namespace
        self.writable_types: set[type] = set()
        writes.track_type_cache(self)
        self.check = self._make_check()

    def _make_check(self) -> Callable[[Any], Any]:
        writable = self.writable_types
        refusal = writes.refusal
        cacheable = writes.type_is_cacheable
        module = self.user_module_name
        namespace = self.namespace

        def check(obj: Any) -> Any:
            """Return ``obj`` if restricted code may write its attributes, else raise."""
            cls = type(obj)
            if cls in writable:
                return obj
            why = refusal(obj, module, namespace)
            if why is not None:
                raise PolicyError(why)
            if not isinstance(obj, writes.SENSITIVE_TYPES) and cacheable(cls):
                writable.add(cls)
            return obj

        return check

    def __call__(self, obj: Any) -> Any:
        """Return ``obj`` if restricted code may write its attributes, else raise."""
        return self.check(obj)

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        """``setattr`` for restricted code."""
        _check_written_name(name)
        setattr(self(obj), name, value)

    def delattr(self, obj: Any, name: str) -> None:
        """``delattr`` for restricted code."""
        _check_written_name(name)
        delattr(self(obj), name)


def guarded_type(obj: Any, *rest: Any) -> type:
    """``type`` (and ``x.__class__``) for restricted code: the one-argument form, and not for
    a class (its class is a metaclass, which builds classes from any namespace)."""
    if rest:
        raise PolicyError("type() with three arguments is not allowed; use a class statement")
    if isinstance(obj, type):
        raise PolicyError(
            f"the class of a class ({obj.__name__}) is a metaclass and is not available"
        )
    return type(obj)


class _TypeNameMeta(type):
    """The class of the ``type`` restricted code sees: ``isinstance(x, type)``,
    ``issubclass(c, type)`` and ``type.__name__`` work; calling it is :func:`guarded_type`."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, type)

    def __subclasscheck__(cls, sub: Any) -> bool:
        return isinstance(sub, type) and issubclass(sub, type)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is not RestrictedType or kwargs or not args:
            raise PolicyError(
                "type() takes one argument here; subclasses of type are not available"
            )
        return guarded_type(*args)

    def __repr__(cls) -> str:
        return "<class 'type'>"


RestrictedType = _TypeNameMeta("type", (), {"__module__": "builtins", "__doc__": type.__doc__})


def guarded_vars(*obj: Any) -> dict[str, Any]:
    """``vars(obj)`` for restricted code: the attributes of the program's own objects only."""
    if len(obj) != 1:
        raise PolicyError("vars() needs an object of the program's (it does not show namespaces)")
    return static_getattr(obj[0], "__dict__")


def _set_recursion_limit(limit: int) -> None:
    """``sys.setrecursionlimit`` for restricted code, capped so that the C stack cannot
    overflow (which would end the whole process)."""
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError("an integer is required")
    sys.setrecursionlimit(min(max(limit, 100), MAX_RECURSION_LIMIT))


MAX_RECURSION_LIMIT = 10_000


def guarded_attrgetter(*names: str) -> Callable[[Any], Any]:
    """``operator.attrgetter`` that checks every name on each dotted path."""
    for dotted in names:
        for part in dotted.split("."):
            _check_attribute_name(part)

    def resolve(obj: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            obj = guarded_getattr(obj, part)
        return obj

    if len(names) == 1:
        return lambda obj: resolve(obj, names[0])
    return lambda obj: tuple(resolve(obj, n) for n in names)


def guarded_methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """``operator.methodcaller`` that checks the method name."""
    _check_attribute_name(name)
    return lambda obj: guarded_getattr(obj, name)(*args, **kwargs)


class FrozenModule(types.ModuleType):
    """A read-only snapshot of a module, as restricted code sees it."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise PolicyError(f"cannot modify module {self.__name__!r}")

    def __delattr__(self, name: str) -> None:
        raise PolicyError(f"cannot modify module {self.__name__!r}")

    def __getattr__(self, name: str) -> Any:
        real = sys.modules.get(self.__name__)
        if real is not None and not name.startswith("_") and hasattr(real, name):
            raise AttributeError(
                f"module {self.__name__!r} has no attribute {name!r} under the restricted "
                "policy (it exposes its declared names only)"
            )
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


def _checked_wrapper_names(assigned: Any, updated: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    assigned, updated = tuple(assigned), tuple(updated)
    for name in assigned + updated:
        _check_attribute_name(name)
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
        if method is None and not isinstance(cls, type) and callable(cls):
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


def guarded_make_dataclass(cls_name: str, fields: Any, *, namespace: Any = None, **kw: Any) -> Any:
    """``dataclasses.make_dataclass`` whose class belongs to the program, with a namespace of
    names a class body could define."""
    entries = dict(namespace or {})
    for key in entries:
        if not isinstance(key, str) or name_refusal(key) is not None or key == "__module__":
            raise PolicyError(f"make_dataclass: namespace entry {key!r} is not allowed")
    entries["__module__"] = writes.PROGRAM_MODULE
    return dataclasses.make_dataclass(cls_name, fields, namespace=entries, **kw)


def replace_members(module: str, members: dict[str, Any]) -> None:
    """Give restricted code checked versions of some of ``module``'s members."""
    _REPLACED_MEMBERS.setdefault(module, {}).update(members)


# Members replaced in module snapshots, by module name.
_REPLACED_MEMBERS: dict[str, dict[str, Any]] = {
    "operator": {"attrgetter": guarded_attrgetter, "methodcaller": guarded_methodcaller},
    "functools": {
        "update_wrapper": guarded_update_wrapper,
        "wraps": guarded_wraps,
        "singledispatch": guarded_singledispatch,
    },
    "string": {"Formatter": SafeFormatter},
    "dataclasses": {
        "dataclass": _writing_into_own(dataclasses.dataclass, "dataclass()", factory=True),
        "make_dataclass": guarded_make_dataclass,
    },
    "typing": {
        "final": _writing_into_own(typing.final, "final()"),
        "no_type_check": _writing_into_own(typing.no_type_check, "no_type_check()"),
        "runtime_checkable": _writing_into_own(typing.runtime_checkable, "runtime_checkable()"),
    },
}
_REPLACED_MEMBERS["functools"]["total_ordering"] = _writing_into_own(
    functools.total_ordering, "total_ordering()"
)


class ModuleGate:
    """Imports modules on an allow-list and hands out read-only snapshots of them."""

    def __init__(
        self, allowed: Iterable[str], synthetic: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.synthetic = dict(synthetic or {})
        self.allowed = frozenset(allowed) | frozenset(self.synthetic)
        self._snapshots: dict[str, FrozenModule] = {}
        writes.install_copy_check()
        # When set, a refused import yields this instead of an error (partial programs).
        self.on_refused: Callable[[str], Any] | None = None

    def is_allowed(self, name: str) -> bool:
        """Whether a module (dotted name) is on the allow-list."""
        return name in self.allowed

    def snapshot(self, name: str) -> FrozenModule:
        """The read-only snapshot of an allowed module, importing it if needed."""
        snap = self._snapshots.get(name)
        if snap is not None:
            return snap
        if name in self.synthetic:
            snap = FrozenModule(name, None)
            vars(snap).update(self.synthetic[name])
            self._snapshots[name] = snap
            return snap
        module = importlib.import_module(name)
        snap = FrozenModule(name, getattr(module, "__doc__", None))
        self._snapshots[name] = snap
        writes.register_shared(vars(module).values())
        declared = exposed_modules.declared_names(name, module)
        members: dict[str, Any] = {}
        for key, value in vars(module).items():
            if key.startswith("_") or (declared is not None and key not in declared):
                continue
            if isinstance(value, types.ModuleType):
                sub = value.__name__
                if sub in self.allowed:
                    members[key] = self.snapshot(sub)
                continue
            members[key] = value
        members.update(_REPLACED_MEMBERS.get(name, {}))
        vars(snap).update(members)
        # Allowed submodules not yet imported by anyone still appear as attributes.
        prefix = name + "."
        for other in self.allowed:
            if other.startswith(prefix) and "." not in other[len(prefix) :]:
                vars(snap).setdefault(other[len(prefix) :], _LazySubmodule(self, other))
        return snap

    def import_(
        self,
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        """``__import__`` for restricted code."""
        if level != 0:
            raise ImportRefused("relative imports are not allowed")
        if not isinstance(name, str) or not name:
            raise ImportRefused("import needs a module name")
        if not self.is_allowed(name) and self.on_refused is not None:
            if fromlist and "*" in fromlist:
                return FrozenModule(name, None)  # nothing to copy; reads resolve one by one
            return self.on_refused(name.split(".")[0] if not fromlist else name)
        if not self.is_allowed(name):
            raise ImportRefused(
                f"import of {name!r} is not allowed by the policy "
                f"(allowed: {', '.join(sorted(self.allowed))})"
            )
        snap = self.snapshot(name)
        if fromlist:
            for item in fromlist:
                sub = f"{name}.{item}"
                if isinstance(vars(snap).get(item), _LazySubmodule):
                    vars(snap)[item] = self.snapshot(sub)
            return snap
        top = name.split(".")[0]
        if not self.is_allowed(top):
            raise ImportRefused(f"import of {top!r} is not allowed by the policy")
        top_snap = self.snapshot(top)
        # Make ``import a.b`` bind ``a`` with ``a.b`` reachable.
        parts = name.split(".")
        current = top_snap
        for i in range(1, len(parts)):
            dotted = ".".join(parts[: i + 1])
            child = vars(current).get(parts[i])
            if not isinstance(child, FrozenModule):
                vars(current)[parts[i]] = self.snapshot(dotted)
            current = vars(current)[parts[i]]
        return top_snap


class _LazySubmodule:
    """Placeholder for an allowed submodule that has not been imported yet."""

    def __init__(self, gate: ModuleGate, name: str) -> None:
        self._gate = gate
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._gate.snapshot(self._name), attr)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_gate", "_name") and name not in self.__dict__:
            object.__setattr__(self, name, value)
            return
        raise PolicyError(f"cannot modify module {self._name!r}")

    def __repr__(self) -> str:
        return f"<module {self._name!r} (not yet imported)>"


class StreamWriter:
    """A write-only stand-in for ``sys.stdout``/``sys.stderr``: it reaches nothing else."""

    _name: str

    def __init__(self, name: str) -> None:
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


def _cell_traceback(tb: types.TracebackType | None, namespace: dict[str, Any]) -> Any:
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


def build_class_for(namespace: dict[str, Any]) -> Callable[..., Any]:
    """``__build_class__`` for restricted code: a class's ``__exit__`` receives tracebacks cut
    to the program's own frames (never the engine's or a library's)."""

    def build_class(func: Any, name: Any, *bases: Any, **kwargs: Any) -> Any:
        cls = builtins.__build_class__(func, name, *bases, **kwargs)
        exit_ = vars(cls).get("__exit__") if isinstance(cls, type) else None
        if isinstance(exit_, types.FunctionType):

            @functools.wraps(exit_)
            def __exit__(self: Any, exc_type: Any, exc: Any, tb: Any, /) -> Any:
                if tb is not None:
                    tb = _cell_traceback(tb, namespace)
                return exit_(self, exc_type, exc, tb)

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
            "vars": guarded_vars,
            "PolicyError": PolicyError,
        }
    )
    if extra:
        table.update(extra)
    return table
