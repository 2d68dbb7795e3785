"""The policy's tables of names: allowed modules, definable special methods, the guards' hook
names, reserved names, and the attributes refused on every object."""

from __future__ import annotations

from ..reserved import HOOK_PREFIX, STOP_NAME

# The safe standard-library subset restricted code may import by default.
DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    "array", "base64", "bisect", "calendar", "cmath", "collections", "collections.abc",
    "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions",
    "functools", "hashlib", "heapq", "html", "itertools", "json", "math", "numbers",
    "operator", "pprint", "random", "re", "statistics", "string", "textwrap", "time",
    "typing", "unicodedata", "urllib", "urllib.parse", "uuid", "zoneinfo", "secrets",
    "__future__", "contextlib", "types", "queue",
)  # fmt: skip

# Special methods a class defined in restricted code may implement.
DEFINABLE_DUNDER_METHODS = frozenset(
    {
        "__init__", "__repr__", "__str__", "__len__", "__iter__", "__next__", "__contains__",
        "__getitem__", "__setitem__", "__delitem__", "__call__", "__bool__", "__hash__",
        "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__enter__", "__exit__",
        "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__",
        "__radd__", "__rsub__", "__rmul__", "__neg__", "__pos__", "__abs__", "__format__",
        "__post_init__",
    }
)  # fmt: skip


# Builtins the ``partial`` policy leaves out: they reach files, code or the interpreter.
PARTIAL_POLICY_REMOVED = frozenset(
    {"open", "exec", "eval", "compile", "input", "breakpoint", "help", "exit", "quit", "globals",
     "memoryview", "__loader__", "__spec__"}
)  # fmt: skip

# Names the engine binds in a namespace for its own hooks; restricted code cannot
# spell them, because they start with "_".
GETATTR_HOOK = "_getattr_"
WRITE_HOOK = "_write_"
WRITE_TYPE_HOOK = "_write_type_"
WRITABLE_TYPES_HOOK = "_write_ok_"
PRIVATE_HOOK = "_private_"
PRIVATE_TYPES_HOOK = "_private_ok_"
MATCH_CLASS_HOOK = "_match_class_"
#: Where a ``match`` keeps the classes of its positional class patterns, checked.
MATCH_CLASS_PREFIX = "__lmulator_match_"

#: Names a program may not bind or read: the interpreter's and the engine's own.
RESERVED_NAMES = frozenset(
    {"__builtins__", "__import__", "__loader__", "__spec__", "__build_class__", STOP_NAME}
)

#: The attributes that lead out of the program: refused in every read and write, whatever the
#: object. One row each, with what it would hand out; ``tests/policy/test_attribute_table.py``
#: tries every row.
REFUSED_ATTRIBUTES: dict[str, str] = {
    "__globals__": "a function's module namespace",
    "__code__": "a function's code object",
    "__closure__": "the cells a function captured",
    "__builtins__": "the interpreter's builtins",
    "__subclasses__": "every class in the interpreter",
    "__mro__": "the classes a class inherits from, up to object",
    "__bases__": "the classes a class inherits from, up to object",
    "__base__": "the class a class inherits from, up to object",
    "mro": "the classes a class inherits from, up to object",
    "__self__": "the object a builtin is bound to (print.__self__ is the builtins module)",
    "__func__": "the function behind a method",
    "__wrapped__": "the function behind a wrapper (the engine's checked wrappers too)",
    "__objclass__": "the class that defines a slot or method descriptor",
    "__getattribute__": "the generic attribute lookup, which skips the guards",
    "__setattr__": "the generic attribute write, which skips the guards",
    "__delattr__": "the generic attribute delete, which skips the guards",
    "__reduce__": "a foreign object's pickling hook (a callable and its arguments)",
    "__reduce_ex__": "a foreign object's pickling hook (a callable and its arguments)",
    "__getstate__": "a foreign object's internal state",
    "__setstate__": "a write of a foreign object's internal state",
    "__traceback__": "the frames an exception passed through",
    "__context__": "the exception being handled when this one was raised (maybe the engine's)",
    "__cause__": "the exception this one was raised from (maybe the engine's)",
    "__loader__": "the loader that reads a module's files",
    "__spec__": "the loader that reads a module's files",
    "__import__": "the import machinery",
    "__init_subclass__": "a foreign class's hook run for every subclass",
    "__set_name__": "a descriptor's hook run at class creation",
    "__forward_code__": "the code object typing compiled from a string annotation",
    "__get__": "a descriptor's read, aimed at any object (cached_property writes its __dict__)",
    "__set__": "a descriptor's write, aimed at any object",
    "__delete__": "a descriptor's delete, aimed at any object",
}

#: Special names a program's class may not hold (defined, assigned or bound any other way in
#: its body): hooks through which library code takes a recipe from the class and applies it past
#: the guards, one row each with what the library would trust.
REFUSED_CLASS_NAMES: dict[str, str] = {
    "__dataclass_fields__": "the field names dataclasses reads with the real getattr",
    "__dataclass_params__": "the options dataclasses trusts",
    "__wrapped__": "the function inspect and functools take a wrapper for",
    "__signature__": "the signature inspect trusts",
    "__instancecheck__": "isinstance's answer for any object",
    "__subclasscheck__": "issubclass's answer for any class",
    "__subclasshook__": "an ABC's answer for any class anyone checks",
    "__mro_entries__": "the bases a class statement uses in its place",
    "__del__": "program code run by the garbage collector, outside any cell",
    "__module__": "the module the engine tells the program's own classes by",
    "__class__": "what isinstance and library code take an object's class to be",
}

#: Attribute names whose static reads still go through the runtime guard, because what they
#: return depends on the object (``str.format`` walks attributes; an AttributeError's ``obj``
#: hands out the object whose access failed); a host adds its own (``register_host``).
RUNTIME_GUARDED_ATTRIBUTES: set[str] = {
    "format", "format_map", "obj", "__dict__", "__class__", "register", "__init__",
    "__defaults__", "__kwdefaults__", "__annotations__", "__dataclass_fields__",
}  # fmt: skip

#: Special attributes a program may write (on objects it may write at all).
WRITABLE_DUNDER_ATTRIBUTES = frozenset({"__doc__", "__name__", "__qualname__"})


def name_refusal(name: str | None) -> str | None:
    """Why a program may not use this name, or None if it may (any other ``_name`` may)."""
    if name is None or not name.startswith("_"):
        return None
    if name in RESERVED_NAMES or name.startswith((HOOK_PREFIX, "__lmulator")):
        return "is reserved for the interpreter and the engine"
    if len(name) > 2 and name.endswith("_") and not name.startswith("__"):
        return "is reserved for the engine's guards (_name_)"
    return None


def is_dunder(name: str) -> bool:
    """Whether a name is a special name (``__x__``)."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")
