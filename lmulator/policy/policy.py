"""Policies: what code may do, checked when a cell is compiled and guarded while it runs."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any, cast

from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer

from ..engine.instrument.astutil import located
from ..engine.instrument.rewriter import HOOK_PREFIX
from ..engine.instrument.stops import STOP_NAME
from ..errors import Refusal
from .guards import (
    RUNTIME_GUARDED_ATTRIBUTES,
    ModuleGate,
    PrivateGuard,
    WriteGuard,
    restricted_builtins,
    static_getattr,
    sys_module,
)

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

POLICY_NAMES = ("restricted", "trusted", "partial")

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
}

#: Special attributes a program may write (on objects it may write at all).
WRITABLE_DUNDER_ATTRIBUTES = frozenset({"__doc__", "__name__", "__qualname__", "__module__"})


def name_refusal(name: str | None) -> str | None:
    """Why a program may not use this name, or None if it may (any other ``_name`` may)."""
    if name is None or not name.startswith("_"):
        return None
    if name in RESERVED_NAMES or name.startswith((HOOK_PREFIX, "__lmulator")):
        return "is reserved for the interpreter and the engine"
    if len(name) > 2 and name.endswith("_") and not name.startswith("__"):
        return "is reserved for the engine's guards (_name_)"
    return None


def pattern_attribute_allowed(name: str) -> bool:
    """Whether a class pattern may read this attribute (it reads past every guard)."""
    return not (
        name.startswith("_")
        or name in REFUSED_ATTRIBUTES
        or name in INSPECT_ATTRIBUTES
        or name in RUNTIME_GUARDED_ATTRIBUTES
    )


def is_dunder(name: str) -> bool:
    """Whether a name is a special name (``__x__``)."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class PolicyViolation(Refusal, SyntaxError):
    """A cell uses a construct the policy forbids (raised at compile time)."""


class _PolicyTransformer(RestrictingNodeTransformer):
    """RestrictedPython's checks, with guards only where a static check cannot decide."""

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        """Reject the interpreter's and the engine's own names; a program's ``_names`` are its."""
        why = name_refusal(name)
        if why:
            self.error(node, f'"{name}" {why}')

    def visit_Name(self, node: ast.Name) -> ast.AST:
        """Check the name; leave the access as it is."""
        self.check_name(node, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        """Refuse the attributes that lead out; guard private ones, and writes, by receiver."""
        name = node.attr
        load = isinstance(node.ctx, ast.Load)
        if name in REFUSED_ATTRIBUTES:
            self.error(node, f'"{name}" is a restricted attribute ({REFUSED_ATTRIBUTES[name]})')
        elif name in INSPECT_ATTRIBUTES or name.endswith("__roles__"):
            self.error(node, f'"{name}" is a restricted attribute')
        elif is_dunder(name) and not load and name not in WRITABLE_DUNDER_ATTRIBUTES:
            self.error(node, f'"{name}" is a special attribute and cannot be assigned')
        node = self.node_contents_visit(node)
        if name.startswith("_") and not is_dunder(name):
            # A private attribute (``_x``, or ``__x`` which the compiler mangles): only on
            # objects the program made. The attribute itself stays, so mangling still works.
            node.value = self._receiver_guard(node.value, PRIVATE_HOOK, PRIVATE_TYPES_HOOK)
        if load:
            if name not in RUNTIME_GUARDED_ATTRIBUTES:
                return node
            call = ast.Call(
                func=ast.Name(GETATTR_HOOK, ast.Load()),
                args=[node.value, ast.Constant(name)],
                keywords=[],
            )
            return located(call, node)
        node.value = self._receiver_guard(node.value, WRITE_HOOK, WRITABLE_TYPES_HOOK)
        return node

    def _receiver_guard(self, value: ast.expr, hook: str, fast_types: str) -> ast.expr:
        """``value`` checked by ``hook``; for a plain name, inline:
        ``(x if type(x) in fast_types else hook(x))``."""
        guard: ast.expr = ast.Call(func=ast.Name(hook, ast.Load()), args=[value], keywords=[])
        if isinstance(value, ast.Name):
            test = ast.Compare(
                ast.Call(ast.Name(WRITE_TYPE_HOOK, ast.Load()), [ast.Name(value.id, ast.Load())],
                         []),
                [ast.In()],
                [ast.Name(fast_types, ast.Load())],
            )  # fmt: skip
            guard = ast.IfExp(test, ast.Name(value.id, ast.Load()), guard)
        return located(guard, value)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        """Reject exec/eval/compile by name; leave other calls as they are."""
        if isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval", "compile"):
            self.error(node, f"{node.func.id}() calls are not allowed.")
        return self.node_contents_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        """Allow subscripts unguarded: they reach only what the container holds."""
        return self.node_contents_visit(node)

    def visit_For(self, node: ast.For) -> ast.AST:
        """Allow for loops."""
        return self.node_contents_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        """Allow comprehension clauses."""
        return self.node_contents_visit(node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        """Allow assignments, unpacking included."""
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        """Allow augmented assignment to names, attributes (guarded) and items."""
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        """Allow annotated assignments (the annotation is checked like any expression)."""
        return self.node_contents_visit(node)

    def visit_With(self, node: ast.With) -> ast.AST:
        """Allow with statements, unpacking included."""
        return self.node_contents_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        """Check the function's and its parameters' names."""
        self.check_name(node, node.name, allow_magic_methods=True)
        self.check_function_argument_names(node)
        return self.node_contents_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        """Check the class name; metaclasses are not allowed; ``__match_args__`` is a literal
        tuple of attribute names a class pattern may read."""
        self.check_name(node, node.name)
        if any(k.arg == "metaclass" for k in node.keywords):
            self.error(node, 'The keyword argument "metaclass" is not allowed.')
        for stmt in node.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])  # fmt: skip
            if any(isinstance(t, ast.Name) and t.id == "__match_args__" for t in targets):
                value = cast(ast.Assign | ast.AnnAssign, stmt).value
                names = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
                if names is None or not all(
                    isinstance(n, ast.Constant)
                    and isinstance(n.value, str)
                    and pattern_attribute_allowed(n.value)
                    for n in names
                ):
                    self.error(stmt, '"__match_args__" must be a tuple of plain attribute names')
        return self.node_contents_visit(node)

    def visit_Module(self, node: ast.Module) -> ast.AST:
        """Visit a module without injecting a print collector."""
        return self.node_contents_visit(node)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        """Allow nonlocal declarations (names are checked)."""
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_Global(self, node: ast.Global) -> ast.AST:
        """Allow global declarations (names are checked)."""
        for name in node.names:
            self.check_name(node, name)
        return node

    # match statements: patterns bind names and read attributes, both checked.
    def visit_Match(self, node: ast.Match) -> ast.AST:
        """Allow match statements."""
        return self.node_contents_visit(node)

    def visit_match_case(self, node: ast.match_case) -> ast.AST:
        """Allow match cases."""
        return self.node_contents_visit(node)

    def visit_MatchValue(self, node: ast.MatchValue) -> ast.AST:
        """Allow value patterns."""
        return self.node_contents_visit(node)

    def visit_MatchSingleton(self, node: ast.MatchSingleton) -> ast.AST:
        """Allow singleton patterns."""
        return self.node_contents_visit(node)

    def visit_MatchSequence(self, node: ast.MatchSequence) -> ast.AST:
        """Allow sequence patterns."""
        return self.node_contents_visit(node)

    def visit_MatchOr(self, node: ast.MatchOr) -> ast.AST:
        """Allow or-patterns."""
        return self.node_contents_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> ast.AST:
        """Allow star patterns with checked names."""
        self.check_name(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> ast.AST:
        """Allow capture patterns with checked names."""
        self.check_name(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> ast.AST:
        """Allow mapping patterns with checked names."""
        self.check_name(node, node.rest)
        return self.node_contents_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> ast.AST:
        """Allow class patterns whose keyword attributes could be read as plain attributes.

        A pattern reads attributes natively, past the guards, so it may not name a refused,
        guarded (``format``, ``obj``) or private attribute.
        """
        for attr in node.kwd_attrs:
            if not pattern_attribute_allowed(attr):
                self.error(node, f'"{attr}" is not allowed in a class pattern')
        return self.node_contents_visit(node)


@dataclass
class Policy:
    """What code run by the engine may do.

    ``restricted`` compiles through RestrictedPython's checks and runs with guarded
    builtins and read-only module snapshots from ``allowed_modules``; ``trusted``
    compiles plain Python with the real builtins.
    """

    name: str = "restricted"
    allowed_modules: tuple[str, ...] = DEFAULT_ALLOWED_MODULES
    synthetic_modules: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"sys": sys_module()}, repr=False
    )
    _gate: ModuleGate | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in POLICY_NAMES:
            raise ValueError(
                f"unknown policy {self.name!r} (choose from {', '.join(POLICY_NAMES)})"
            )
        self.allowed_modules = tuple(self.allowed_modules)

    @property
    def restricted(self) -> bool:
        """Whether this policy restricts code."""
        return self.name == "restricted"

    @property
    def checks_code(self) -> bool:
        """Whether code is checked at compile time (restricted) or compiled as it is."""
        return self.name == "restricted"

    @property
    def gate(self) -> ModuleGate:
        """The import gate for this policy's allow-list."""
        if self._gate is None:
            self._gate = ModuleGate(self.allowed_modules, self.synthetic_modules)
        return self._gate

    def check(self, tree: ast.Module) -> ast.Module:
        """Check a parsed cell and insert the guards; raise PolicyViolation if it is refused."""
        if not self.checks_code:
            return tree
        errors: list[str] = []
        new = _PolicyTransformer(errors=errors).visit(tree)
        if errors:
            raise PolicyViolation("\n".join(errors))
        return new

    def prepare_namespace(self, namespace: dict[str, Any], module_name: str) -> None:
        """Bind the builtins and guard hooks this policy's code needs."""
        namespace.setdefault("__name__", module_name)
        if self.name == "trusted":
            namespace["__builtins__"] = builtins.__dict__
            return
        if self.name == "partial":
            self.synthetic_modules.setdefault("sys", sys_module())
            self.synthetic_modules["sys"].update(
                {"path": [], "executable": "python3", "modules": {}, "platform": "linux"}
            )
            table = {k: v for k, v in builtins.__dict__.items() if k not in PARTIAL_POLICY_REMOVED}
            table["__import__"] = self.gate.import_
            namespace["__builtins__"] = table
            return
        write_guard = WriteGuard(module_name, namespace)
        namespace["__builtins__"] = restricted_builtins(self.gate, write_guard)
        namespace[GETATTR_HOOK] = static_getattr
        namespace[WRITE_HOOK] = write_guard.check
        namespace[WRITE_TYPE_HOOK] = type
        namespace[WRITABLE_TYPES_HOOK] = write_guard.writable_types
        private_guard = PrivateGuard(module_name, namespace)
        namespace[PRIVATE_HOOK] = private_guard.check
        namespace[PRIVATE_TYPES_HOOK] = private_guard.ok_types

    def builtin_names(self, namespace: dict[str, Any]) -> frozenset[str]:
        """Names the code can reach as builtins in this namespace."""
        table = namespace.get("__builtins__", builtins.__dict__)
        if not isinstance(table, dict):
            table = vars(table)
        return frozenset(table)
