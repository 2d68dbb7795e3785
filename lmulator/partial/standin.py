"""Stand-ins: inert objects that take the place of what a partial program never defined."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

# How many items iterating a stand-in yields: one lets a loop body run once.
ITERATION_LENGTH = 1


class StandIn:
    """Callable, iterable, subscriptable, attribute-bearing, a context manager; does nothing.

    Attribute reads and calls give further stand-ins named after the expression, so
    ``np.array(x).mean()`` runs and yields ``<stand-in np.array(...).mean(...)>``.
    """

    __slots__ = ("_name", "_attrs")

    def __init__(self, name: str = "value") -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", {})

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"

    def __str__(self) -> str:
        return self._name

    def __format__(self, spec: str) -> str:
        return format(self._name, spec) if spec and not spec[-1:].isdigit() else self._name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        attrs = object.__getattribute__(self, "_attrs")
        if attr not in attrs:
            attrs[attr] = StandIn(f"{self._name}.{attr}")
        return attrs[attr]

    def __setattr__(self, attr: str, value: Any) -> None:
        self._attrs[attr] = value

    def __delattr__(self, attr: str) -> None:
        self._attrs.pop(attr, None)

    def __call__(self, *args: Any, **kwargs: Any) -> StandIn:
        return StandIn(f"{self._name}(...)")

    def __iter__(self) -> Iterator[StandIn]:
        return iter([StandIn(f"{self._name}[{i}]") for i in range(ITERATION_LENGTH)])

    def __getitem__(self, key: Any) -> StandIn:
        return StandIn(
            f"{self._name}[{key!r}]" if not isinstance(key, StandIn) else f"{self._name}[...]"
        )

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __delitem__(self, key: Any) -> None:
        pass

    def __len__(self) -> int:
        return ITERATION_LENGTH

    def __bool__(self) -> bool:
        return True

    def __contains__(self, item: Any) -> bool:
        return False

    def __enter__(self) -> StandIn:
        return StandIn(f"{self._name} (entered)")

    def __exit__(self, *exc: Any) -> None:
        return None

    def __hash__(self) -> int:
        return id(self)

    # Comparisons: a stand-in equals anything, so checks written against real values pass.
    def __eq__(self, other: Any) -> bool:
        return True

    def __ne__(self, other: Any) -> bool:
        return False

    def __lt__(self, other: Any) -> bool:
        return False

    def __le__(self, other: Any) -> bool:
        return True

    def __gt__(self, other: Any) -> bool:
        return False

    def __ge__(self, other: Any) -> bool:
        return True

    def __int__(self) -> int:
        return 1

    def __float__(self) -> float:
        return 1.0

    def __index__(self) -> int:
        return 1

    def __neg__(self) -> StandIn:
        return self

    def __pos__(self) -> StandIn:
        return self

    def __abs__(self) -> StandIn:
        return self

    def __invert__(self) -> StandIn:
        return self

    def keys(self) -> list[Any]:
        """``**stand_in`` passes no keywords."""
        return []

    def __mro_entries__(self, bases: tuple) -> tuple[type, ...]:
        return (StandInBase,)

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self


def _binary(self: StandIn, other: Any) -> StandIn:
    return StandIn(f"({self._name} op ...)")


for _op in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
    "lshift", "rshift",
):  # fmt: skip
    setattr(StandIn, f"__{_op}__", _binary)
    setattr(StandIn, f"__r{_op}__", _binary)
    setattr(StandIn, f"__i{_op}__", _binary)


def involves_standin(*values: Any) -> bool:
    """Whether any value, or a container holding one at its top level, is a stand-in."""
    for v in values:
        if isinstance(v, (StandIn, _Dressed)):
            return True
        if isinstance(v, (list, tuple, set, frozenset)) and any(isinstance(x, StandIn) for x in v):
            return True
        if isinstance(v, dict) and any(isinstance(x, StandIn) for x in v.values()):
            return True
        receiver = getattr(v, "__self__", None)
        if isinstance(receiver, StandIn):
            return True
    return False


def typed_standin(schema: dict[str, Any] | None, name: str) -> Any:
    """A value of the JSON type a use fixes, or a StandIn when no type is fixed."""
    if not schema:
        return StandIn(name)
    if "anyOf" in schema:
        return typed_standin(schema["anyOf"][0], name)
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind == "integer":
        return 1
    if kind == "number":
        return 1
    if kind == "string":
        return name
    if kind == "array":
        return [StandIn(f"{name}[0]")]
    if kind == "object":
        return StandInDict(name)
    return StandIn(name)


class StandInDict(dict):
    """A dict that answers any missing key with a stand-in."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, key: Any) -> StandIn:
        value = StandIn(f"{self.name}[{key!r}]")
        self[key] = value
        return value


# Method names that fix the type of the object they are called on. (Mapping methods are left
# to a stand-in: an empty dict would leave loops over its items unrun.)
METHOD_TYPES: dict[str, Any] = {
    **{m: lambda name: [] for m in ("append", "extend", "insert", "sort", "reverse")},
    **{
        m: lambda name: name
        for m in (
            "split",
            "strip",
            "lower",
            "upper",
            "startswith",
            "endswith",
            "replace",
            "encode",
            "splitlines",
            "lstrip",
            "rstrip",
            "title",
            "isdigit",
        )
    },  # fmt: skip
    **{m: lambda name: set() for m in ("add", "discard")},
}


class SnippetExit(BaseException):  # noqa: N818 - control flow, like SystemExit
    """``exit(value)`` in a partial program: the program ends here, cleanly."""

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.value = value


def snippet_exit(value: Any = None) -> None:
    """``exit``/``quit`` for partial programs: end the program, cleanly."""
    raise SnippetExit(value)


def unpack(value: Any, count: int) -> Any:
    """What ``a, b = value`` unpacks: a stand-in gives ``count`` stand-ins."""
    if isinstance(value, StandIn):
        return tuple(StandIn(f"{value._name}[{i}]") for i in range(count))
    return value


def unpack_iter(values: Any, count: int) -> Any:
    """What ``for a, b in values`` iterates: stand-in items unpack into ``count`` stand-ins."""
    if isinstance(values, StandIn):
        return [unpack(item, count) for item in values]
    if isinstance(values, (list, tuple)) and not any(isinstance(v, StandIn) for v in values):
        return values
    return (unpack(item, count) for item in values)


class StandInBase:
    """The base class a program gets when it subclasses a stand-in (``class M(nn.Module)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return StandIn(f"{type(self).__name__}.{attr}")


def fits_uses(value: Any, uses: dict | None) -> str | None:
    """Why a value cannot serve the program's uses of it, or None if it can."""
    if not uses:
        return None
    if uses.get("called") and not callable(value):
        return "it is called"
    missing = [a for a in uses.get("attrs", ()) if not hasattr(value, a)]
    if missing:
        return f"it has no attribute {missing[0]!r}"
    if uses.get("subscripted") and not hasattr(value, "__getitem__"):
        return "it is subscripted"
    if uses.get("iterated") and not hasattr(value, "__iter__"):
        return "it is iterated"
    if uses.get("entered") and not hasattr(value, "__enter__"):
        return "it is used in a with statement"
    return None


_BINARY_OPS = (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "lshift",
    "rshift", "matmul",
)  # fmt: skip
_ORDERING = ("lt", "le", "gt", "ge")


def _builtin_base(cls: type) -> type:
    """The builtin type a dressed class extends (str, int, float, list, dict)."""
    return next(t for t in cls.__mro__ if t in _DRESS)


def _operator_with_fallback(name: str) -> Any:
    """An operator of a dressed value: the value's own, and where its type cannot do it (a
    ``TypeError`` or ``NotImplemented``), what a stand-in does."""

    reflected = name.replace("__r", "__", 1) if name.startswith("__r") else "__r" + name[2:]

    def method(self: Any, other: Any) -> Any:
        base = _builtin_base(type(self))
        attempts = [(getattr(base, name, None), self, other)]
        if not isinstance(other, (_Dressed, StandIn)):  # the other side's own reflected operator
            attempts.append((getattr(type(other), reflected, None), other, base(self)))
        for op, left, right in attempts:
            if op is None:
                continue
            try:
                result = op(left, right)
            except TypeError:
                continue
            if result is not NotImplemented:
                return result
        return StandIn(f"({self!r} op ...)")

    method.__name__ = name
    return method


def _ordering_with_fallback(name: str) -> Any:
    """A comparison of a dressed value: the value's own, else a stand-in's (False)."""

    def method(self: Any, other: Any) -> Any:
        own = getattr(_builtin_base(type(self)), name)
        try:
            result = own(self, other)
        except TypeError:
            return False
        return False if result is NotImplemented else result

    method.__name__ = name
    return method


class _Dressed:
    """Mixin for an LM value: what the value itself cannot do, a stand-in does (attributes,
    calls, ``with``, and operators its type does not support with the other operand)."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return StandIn(f"({self!r}).{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> StandIn:
        return StandIn(f"({self!r})(...)")

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


for _op in _BINARY_OPS:
    for _name in (f"__{_op}__", f"__r{_op}__"):
        setattr(_Dressed, _name, _operator_with_fallback(_name))
for _op in _ORDERING:
    setattr(_Dressed, f"__{_op}__", _ordering_with_fallback(f"__{_op}__"))


class _DressedNumber(_Dressed):
    def __setitem__(self, key: Any, value: Any) -> None:
        pass  # a number cannot take items; a stand-in takes them and forgets them

    def __delitem__(self, key: Any) -> None:
        pass

    def __iter__(self) -> Iterator[StandIn]:
        return iter([StandIn(f"{self!r}[0]")])

    def __getitem__(self, key: Any) -> StandIn:
        return StandIn(f"{self!r}[...]")

    def keys(self) -> list[Any]:
        return []


class DressedStr(_Dressed, str):
    """A string from the LM."""

    def keys(self) -> list[Any]:
        return []

    def __int__(self) -> int:
        try:
            return int(str(self))
        except ValueError:
            return 1  # as a stand-in converts

    def __float__(self) -> float:
        try:
            return float(str(self))
        except ValueError:
            return 1.0

    def __index__(self) -> int:
        return int(self)  # as an index or a count, like a stand-in

    def __setitem__(self, key: Any, value: Any) -> None:
        pass  # a string cannot take items; a stand-in takes them and forgets them

    def __delitem__(self, key: Any) -> None:
        pass


class DressedInt(_DressedNumber, int):
    """An integer from the LM."""


class DressedFloat(_DressedNumber, float):
    """A float from the LM."""


class DressedList(_Dressed, list):
    """A list from the LM."""

    def keys(self) -> list[Any]:
        return []


class DressedDict(_Dressed, dict):
    """A dict from the LM."""

    def __missing__(self, key: Any) -> StandIn:
        return StandIn(f"{self!r}[{key!r}]")


_DRESS = {
    str: DressedStr,
    int: DressedInt,
    float: DressedFloat,
    list: DressedList,
    dict: DressedDict,
}


def dress(value: Any) -> Any:
    """An LM value that falls back to stand-ins for what it cannot do itself."""
    kind = _DRESS.get(type(value))
    return kind(value) if kind is not None else value
