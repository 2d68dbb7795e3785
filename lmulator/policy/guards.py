"""Run-time guards for restricted code: attribute reads and writes, private names, formatting,
``type`` and ``vars``."""

from __future__ import annotations

import _string
import abc
import collections
import functools
import string
import types
from collections.abc import Callable, Iterable
from typing import Any, cast

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from . import writes
from .names import (
    REFUSED_ATTRIBUTES,
    RUNTIME_GUARDED_ATTRIBUTES,
    WRITABLE_DUNDER_ATTRIBUTES,
    is_dunder,
)
from .refusals import PolicyError, Uncopyable
from .stand_ins import FUNCTION_TYPE, HEAPTYPE, read_only

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
#: Containers a function or class holds that library code reads back (a function's defaults and
#: annotations, a dataclass's field table): a program gets read-only copies of another's.
HELD_CONTAINERS = frozenset({"__defaults__", "__kwdefaults__", "__annotations__"})


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


def check_attribute_name(name: object) -> str:
    if type(name) is not str:
        raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
    if not attribute_name_allowed(name):
        raise PolicyError(f'access to attribute "{name}" is not allowed')
    return name


def _check_written_name(name: object) -> str:
    """An attribute name restricted code may set or delete (no special attribute but a few)."""
    checked = check_attribute_name(name)
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
    elif name == "__init__":
        return _checked_init(obj)
    elif name in HELD_CONTAINERS and not _made_by_program(obj):
        return read_only(getattr(obj, name))  # json.dumps.__kwdefaults__['cls'] = Enc
    elif name == "__dataclass_fields__":  # the library's table, even on the program's class
        return read_only(getattr(obj, name))
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
        return _registering_own(obj)
    elif name in HOST_ATTRIBUTES:
        package = (getattr(type(obj), "__module__", None) or "").partition(".")[0]
        if package in HOST_PACKAGES:
            if name in HOST_CHECKED:
                return HOST_CHECKED[name](obj)
            raise PolicyError(
                f'access to attribute "{name}" of {type(obj).__name__} is not allowed'
            )
    value = getattr(obj, name)
    return checked_special(name, value) if is_dunder(name) else value


def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` for restricted code."""
    check_attribute_name(name)
    if name in RUNTIME_GUARDED_ATTRIBUTES or is_dunder(name):
        try:
            return static_getattr(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise
    return getattr(obj, name, *default)


#: Special attributes read inline, unchecked: their values are names and text.
PLAIN_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
#: The module snapshots a program may hold (registered by :mod:`.modules`).
SNAPSHOT_TYPES: list[type] = []


def checked_special(name: str, value: Any) -> Any:
    """``value`` of special attribute ``name``, unless it is a way out whatever the name: code,
    a frame, a traceback, a cell, or a real module (a deny-list of names would miss a library's
    new one, as ``ForwardRef.__forward_code__`` was missed)."""
    if isinstance(value, _OUTSIDE_TYPES) or (
        isinstance(value, types.ModuleType) and type(value) not in SNAPSHOT_TYPES
    ):
        raise PolicyError(f'"{name}" gives a {type(value).__name__}, which is not available')
    return value


_OUTSIDE_TYPES = (types.CodeType, types.FrameType, types.TracebackType, types.CellType)


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


def _programs_alone(cls: type, module: str) -> bool:
    """Whether every class ``cls`` inherits from that Python code made is the program's (a
    library base class's private names, and what its code stored under them, are the
    library's: ``class Q(pprint.PrettyPrinter)`` would read the real ``sys.stdout`` as
    ``Q()._stream``, and write pprint's process-wide ``_dispatch`` table)."""
    return cls.__module__ == module and all(
        not base.__flags__ & HEAPTYPE or base.__module__ == module for base in cls.__mro__
    )


class PrivateGuard(Uncopyable):
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
                if _programs_alone(obj, module):
                    return obj
            elif isinstance(obj, types.FunctionType):
                if obj.__globals__ is namespace:
                    return obj
            elif isinstance(obj, types.MethodType):
                check(obj.__self__)
                return obj
            elif _programs_alone(cls, module):
                ok.add(cls)
                return obj
            subject = obj if isinstance(obj, type) else cls
            if getattr(subject, "__module__", None) == module:
                raise PolicyError(
                    f"private attributes of {subject.__name__} are not available: it inherits "
                    "from a library class, whose private names are the library's"
                )
            raise PolicyError(
                f"private attributes of {cls.__name__} objects are not available: the program "
                "did not create them"
            )

        return check


class WriteGuard(Uncopyable):
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
    kind = type(obj)
    return cast(type, FUNCTION_TYPE) if kind is types.FunctionType else kind


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


def _checked_init(obj: Any) -> Any:
    """``obj.__init__`` for restricted code: bound, only to an object the program made; unbound
    (read from a class, or through ``super`` from one), the program's own function as it is, any
    other only for the program's own objects. Re-initialising an object a library holds
    (``decimal.DefaultContext``, a library class's property) would change it for the process."""
    init = obj.__init__
    if hasattr(init, "__self__") and not isinstance(init, type):
        receiver = init.__self__
        if not _made_by_program(receiver):
            raise PolicyError(
                f"re-initialising a {type(receiver).__name__} the program did not make is not "
                "allowed"
            )
        return init
    if isinstance(init, types.FunctionType) and init.__module__ == writes.PROGRAM_MODULE:
        return init
    return _initialising_own(init)


def _initialising_own(init: Any) -> Callable[..., Any]:
    """A library ``__init__``, unbound, for the program's own objects only."""

    def checked(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not _made_by_program(self):
            raise PolicyError(
                f"__init__: re-initialising a {type(self).__name__} the program did not make "
                "is not allowed"
            )
        return init(self, *args, **kwargs)

    return checked


def _registering_own(abc_class: Any) -> Callable[[Any], Any]:
    """``abc_class.register`` for the program's own classes only: a foreign class registered
    would pass ``isinstance`` checks it does not meet, and a class pattern would then read its
    objects' attributes (a traceback's ``tb_frame``) by the names ``__match_args__`` gives."""
    register = abc_class.register

    def checked(subclass: Any) -> Any:
        why = writes.refusal(subclass) if isinstance(subclass, type) else "not a class"
        if why is not None:
            raise PolicyError(
                f"{abc_class.__name__}.register: only the program's own classes may be "
                f"registered ({why})"
            )
        return register(subclass)

    return checked


def guarded_vars(*obj: Any) -> dict[str, Any]:
    """``vars(obj)`` for restricted code: the attributes of the program's own objects only."""
    if len(obj) != 1:
        raise PolicyError("vars() needs an object of the program's (it does not show namespaces)")
    return static_getattr(obj[0], "__dict__")
