"""What each allowed module exposes to restricted code, name by name.

The way Zope's ``ModuleSecurityInfo`` declares a module's public names, every module on the
restricted policy's allow-list has a declaration here: the names a program may use, and the names
kept back with the reason. A module that declares its own public interface (``__all__``) is
exposed as that list, plus the extras named in :data:`ADDED`, less :data:`WITHHELD`; a module
without ``__all__`` is exposed as the explicit list in :data:`LISTED`. Names outside the
declaration are simply absent from the module a program imports (an ``AttributeError``; in
``interweave`` mode the LM may then emulate them). Functions that take attribute names,
namespaces or classes as data are replaced by checked wrappers (``library.REPLACED_MEMBERS``).
"""

from __future__ import annotations

import types
from typing import Any

#: Modules without ``__all__``: the names they expose.
LISTED: dict[str, frozenset[str]] = {
    "array": frozenset({"array", "ArrayType", "typecodes"}),
    "bisect": frozenset({"bisect", "bisect_left", "bisect_right", "insort", "insort_left",
                         "insort_right"}),
    "cmath": frozenset({
        "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "e", "exp", "inf",
        "infj", "isclose", "isfinite", "isinf", "isnan", "log", "log10", "nan", "nanj", "phase",
        "pi", "polar", "rect", "sin", "sinh", "sqrt", "tan", "tanh", "tau",
    }),
    "decimal": frozenset({
        "BasicContext", "Clamped", "Context", "ConversionSyntax", "Decimal", "DecimalException",
        "DecimalTuple", "DefaultContext", "DivisionByZero", "DivisionImpossible",
        "DivisionUndefined", "ExtendedContext", "FloatOperation", "HAVE_CONTEXTVAR",
        "HAVE_THREADS", "Inexact", "InvalidContext", "InvalidOperation", "MAX_EMAX", "MAX_PREC",
        "MIN_EMIN", "MIN_ETINY", "Overflow", "ROUND_05UP", "ROUND_CEILING", "ROUND_DOWN",
        "ROUND_FLOOR", "ROUND_HALF_DOWN", "ROUND_HALF_EVEN", "ROUND_HALF_UP", "ROUND_UP",
        "Rounded", "Subnormal", "Underflow", "getcontext", "localcontext", "setcontext",
    }),
    "itertools": frozenset({
        "accumulate", "batched", "chain", "combinations", "combinations_with_replacement",
        "compress", "count", "cycle", "dropwhile", "filterfalse", "groupby", "islice",
        "pairwise", "permutations", "product", "repeat", "starmap", "takewhile", "tee",
        "zip_longest",
    }),
    "math": frozenset({
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "comb",
        "copysign", "cos", "cosh", "degrees", "dist", "e", "erf", "erfc", "exp", "exp2",
        "expm1", "fabs", "factorial", "floor", "fmod", "frexp", "fsum", "gamma", "gcd", "hypot",
        "inf", "isclose", "isfinite", "isinf", "isnan", "isqrt", "lcm", "ldexp", "lgamma", "log",
        "log10", "log1p", "log2", "modf", "nan", "nextafter", "perm", "pi", "pow", "prod",
        "radians", "remainder", "sin", "sinh", "sqrt", "sumprod", "tan", "tanh", "tau", "trunc",
        "ulp",
    }),
    # clock_settime, tzset and pthread_getcpuclockid change or name process-wide state
    "time": frozenset({
        "altzone", "asctime", "ctime", "daylight", "get_clock_info", "gmtime", "localtime",
        "mktime", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
        "process_time", "process_time_ns", "sleep", "strftime", "strptime", "struct_time",
        "thread_time", "thread_time_ns", "time", "time_ns", "timezone", "tzname",
    }),
    "unicodedata": frozenset({
        "UCD", "bidirectional", "category", "combining", "decimal", "decomposition", "digit",
        "east_asian_width", "is_normalized", "lookup", "mirrored", "name", "normalize",
        "numeric", "ucd_3_2_0", "unidata_version",
    }),
    "urllib": frozenset(),  # a package: only its allowed submodule ``parse``
    # getnode (and uuid1, which calls it) may run ``ip``/``ifconfig`` to find a MAC address
    "uuid": frozenset({
        "NAMESPACE_DNS", "NAMESPACE_OID", "NAMESPACE_URL", "NAMESPACE_X500", "RESERVED_FUTURE",
        "RESERVED_MICROSOFT", "RESERVED_NCS", "RFC_4122", "SafeUUID", "UUID", "uuid3", "uuid4",
        "uuid5",
    }),
    "contextlib": frozenset({
        # no redirect_stdout/redirect_stderr: they swap the process's streams, and one left
        # open would run the program's write() in the host after the cell
        "contextmanager", "suppress", "nullcontext", "closing", "ExitStack",
        "AbstractContextManager", "ContextDecorator",
    }),
    # no new_class/prepare_class/resolve_bases (class creation past __build_class__), no
    # CodeType/FrameType/coroutine internals
    "types": frozenset({
        "SimpleNamespace", "MappingProxyType", "MethodType", "FunctionType", "LambdaType",
        "GeneratorType", "BuiltinFunctionType", "NoneType", "NotImplementedType",
        "EllipsisType", "GenericAlias", "UnionType",
    }),
    "queue": frozenset({"Queue", "LifoQueue", "PriorityQueue", "SimpleQueue", "Empty", "Full"}),
}  # fmt: skip

#: Public names a module does not list in ``__all__`` that ordinary programs use.
ADDED: dict[str, frozenset[str]] = {
    "calendar": frozenset({"January", "February", "EPOCH", "mdays"}),
    "copy": frozenset({"error"}),
    "random": frozenset({"TWOPI"}),
    "re": frozenset({"DEBUG", "TEMPLATE", "T"}),
    "statistics": frozenset({"LinearRegression"}),
}

#: Names in a module's ``__all__`` that are kept back, with the reason beside each group.
WITHHELD: dict[str, frozenset[str]] = {
    # main()/test() read the process's argv and open the files it names
    "base64": frozenset({"main", "test"}),
    # main() reads the process's argv; setfirstweekday changes the module for the process
    "calendar": frozenset({"main", "setfirstweekday"}),
    "zoneinfo": frozenset({"reset_tzpath"}),  # where the whole process reads time zones from
    # the dialect registry and the field size limit are the process's
    "csv": frozenset({"register_dialect", "unregister_dialect", "field_size_limit"}),
    # global_enum writes a class's members into the globals of whatever module it names
    "enum": frozenset({"global_enum", "global_enum_repr", "global_flag_repr", "global_str"}),
    # evaluate strings as code (string annotations, past every guard)
    "functools": frozenset({"singledispatchmethod"}),
    "typing": frozenset({"get_type_hints", "ForwardRef", "evaluate_forward_ref"}),
}


def declared_names(name: str, module: types.ModuleType) -> frozenset[str] | None:
    """The names ``module`` exposes to restricted code; None for a module with no declaration
    (a module added to a policy's allow-list by its user: every public name)."""
    if name in LISTED:
        return LISTED[name]
    public: Any = getattr(module, "__all__", None)
    if public is None:
        return None
    return (frozenset(public) | ADDED.get(name, frozenset())) - WITHHELD.get(name, frozenset())
