"""Policies: what code may do, checked when a cell is compiled and guarded while it runs."""

from __future__ import annotations

import ast
import builtins
import dataclasses
from dataclasses import dataclass, field
from typing import Any, cast

from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer

from ..astutil import class_scope_bindings, located
from ..errors import Refusal
from ..kinds import POLICY_NAMES
from .guards import (
    PLAIN_DUNDERS,
    RUNTIME_GUARDED_ATTRIBUTES,
    PrivateGuard,
    WriteGuard,
    static_getattr,
)
from .modules import ModuleGate
from .names import (
    DEFAULT_ALLOWED_MODULES,
    DEFINABLE_DUNDER_METHODS,
    GETATTR_HOOK,
    MATCH_CLASS_HOOK,
    MATCH_CLASS_PREFIX,
    PARTIAL_POLICY_REMOVED,
    PRIVATE_HOOK,
    PRIVATE_TYPES_HOOK,
    REFUSED_ATTRIBUTES,
    REFUSED_CLASS_NAMES,
    RESERVED_NAMES,
    WRITABLE_DUNDER_ATTRIBUTES,
    WRITABLE_TYPES_HOOK,
    WRITE_HOOK,
    WRITE_TYPE_HOOK,
    is_dunder,
    name_refusal,
)
from .restricted_builtins import restricted_builtins, sys_module
from .stand_ins import check_match_class, pattern_attribute_allowed

# The tables live in `names`; they are re-exported here, where the policy is.
__all__ = [
    "DEFAULT_ALLOWED_MODULES",
    "DEFINABLE_DUNDER_METHODS",
    "GETATTR_HOOK",
    "PARTIAL_POLICY_REMOVED",
    "POLICY_NAMES",
    "PRIVATE_HOOK",
    "PRIVATE_TYPES_HOOK",
    "Policy",
    "PolicyViolation",
    "REFUSED_ATTRIBUTES",
    "RESERVED_NAMES",
    "WRITABLE_DUNDER_ATTRIBUTES",
    "WRITABLE_TYPES_HOOK",
    "WRITE_HOOK",
    "WRITE_TYPE_HOOK",
    "is_dunder",
    "name_refusal",
    "pattern_attribute_allowed",
]


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
            if name not in RUNTIME_GUARDED_ATTRIBUTES and (
                not is_dunder(name) or name in PLAIN_DUNDERS
            ):
                return node  # a special attribute's value is checked by kind (code, frames)
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
        for bound, name in class_scope_bindings(node):
            if name in REFUSED_CLASS_NAMES:
                self.error(bound, f'a class may not define "{name}" ({REFUSED_CLASS_NAMES[name]})')
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
        """Allow match statements. A positional class pattern reads the attributes its class's
        ``__match_args__`` names, past every guard, and that tuple may come from anywhere (a
        library factory, a base class): each such class is checked before the subject, into a
        name the program cannot spell, which the pattern then uses::

            match s:            ->  match (__lmulator_match_0 := _match_class_(C, 1), s)[1]:
                case C(x): ...          case __lmulator_match_0(x): ...
        """
        node = cast(ast.Match, self.node_contents_visit(node))
        checks: list[ast.expr] = []
        for case in node.cases:
            for sub in ast.walk(case.pattern):
                if isinstance(sub, ast.MatchClass) and sub.patterns:
                    hidden = f"{MATCH_CLASS_PREFIX}{len(checks)}"
                    check = ast.Call(
                        ast.Name(MATCH_CLASS_HOOK, ast.Load()),
                        [sub.cls, ast.Constant(len(sub.patterns))],
                        [],
                    )
                    checks.append(ast.NamedExpr(ast.Name(hidden, ast.Store()), check))
                    sub.cls = located(ast.Name(hidden, ast.Load()), sub.cls)
        if checks:
            subject = ast.Subscript(
                ast.Tuple([*checks, node.subject], ast.Load()), ast.Constant(len(checks)),
                ast.Load(),
            )  # fmt: skip
            node.subject = located(subject, node.subject)
        return node

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

    def copy(self) -> Policy:
        """The same policy with its own import gate and module tables (safe to change)."""
        synthetic = {name: dict(members) for name, members in self.synthetic_modules.items()}
        return dataclasses.replace(self, synthetic_modules=synthetic, _gate=None)

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
        namespace[MATCH_CLASS_HOOK] = check_match_class
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
