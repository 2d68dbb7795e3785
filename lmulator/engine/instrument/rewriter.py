"""Rewrites a checked cell so that missing pieces and failing statements reach the emulator.

Nothing is added on the path of code that runs normally except zero-cost ``try``
blocks: calls to undefined functions and reads of undefined names become calls to
hooks, stub functions get a decorator, and statements below the top level are
wrapped in ``try``/``except`` whose handler asks for a state delta.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from ...partial.expect import from_annotation, infer_expectations
from .astutil import located

# Hook names bound in the namespace; restricted code cannot spell them.
CALL_HOOK = "_lm_call_"
NAME_HOOK = "_lm_name_"
STUB_HOOK = "_lm_stub_"
STMT_HOOK = "_lm_stmt_"
RETURN_HOOK = "_lm_return_"
RAN_HOOK = "_lm_ran_"
PCALL_HOOK = "_lm_pcall_"
UNPACK_HOOK = "_lm_unpack_"
UNPACK_ITER_HOOK = "_lm_unpack_iter_"
# Calls that inspect their caller's frame; they must stay direct.
_FRAME_CALLS = frozenset({"super", "locals", "vars", "dir", "globals", "eval", "exec"})
LOCALS_HOOK = "_lm_locals_"
RUNTIME_NAME = "_lm_rt_"
HOOK_PREFIX = "_lm_"
_EXC = "_lm_e_"
_DELTA = "_lm_d_"
_RETURN_VALUE = "_lm_rv_"

_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# Never handed to the LM: control flow, declarations, and a program's own raise/assert.
_NEVER_WRAPPED = (
    ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Raise, ast.Assert,
)  # fmt: skip


#: A node type kept through a rewrite (an expression stays an expression).
ExprT = TypeVar("ExprT", bound=ast.AST)


@dataclass
class Site:
    """A place in a cell where the emulator may be asked for something."""

    id: int
    kind: str  # "call" | "name" | "stub" | "stmt" | "return"
    line: int
    source: str
    name: str = ""
    scope: str = "module"  # "module" | "class" | "function"
    referenced: tuple[str, ...] = ()
    assignable: tuple[str, ...] = ()
    global_names: tuple[str, ...] = ()
    stub_source: str = ""
    top_level: bool = False
    cell: str = ""
    targets: tuple[str, ...] = ()
    expect: dict | None = None
    simple: bool = False
    uses: dict | None = None
    root_uses: dict | None = None


@dataclass
class Instrumented:
    """A rewritten cell and the sites in it."""

    tree: ast.Module
    sites: dict[int, Site] = field(default_factory=dict)
    top_sites: list[Site] = field(default_factory=list)


def bound_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds anywhere, in any scope."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def referenced_names(node: ast.AST) -> tuple[str, ...]:
    """Names a statement reads or binds, in order of first appearance, hooks left out."""
    seen: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and not sub.id.startswith(HOOK_PREFIX):
            seen.setdefault(sub.id, None)
    return tuple(seen)


@dataclass
class _Names:
    """Names found in one pass over a cell."""

    referenced: dict[int, tuple[str, ...]] = field(default_factory=dict)
    stored: dict[int, frozenset[str]] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)


def _statement_names(tree: ast.AST) -> _Names:
    """Per statement (by node id): the names it references and the names it binds."""
    result = _Names()

    def visit(node: ast.AST) -> tuple[dict[str, None], set[str]]:
        seen: dict[str, None] = {}
        stored: set[str] = set()
        if isinstance(node, ast.Name) and not node.id.startswith(HOOK_PREFIX):
            seen[node.id] = None
            if isinstance(node.ctx, ast.Load):
                result.loaded.add(node.id)
            else:
                stored.add(node.id)
        for child in ast.iter_child_nodes(node):
            child_seen, child_stored = visit(child)
            for name in child_seen:
                seen.setdefault(name, None)
            if not isinstance(child, _SCOPE_NODES + _COMPREHENSIONS):
                stored |= child_stored
        if isinstance(node, ast.stmt):
            result.referenced[id(node)] = tuple(seen)
            result.stored[id(node)] = frozenset(stored)
        return seen, stored

    visit(tree)
    return result


def _utf8_slice(line: str, start: int | None, end: int | None) -> str:
    """Slice a line by the UTF-8 byte offsets the ast module reports."""
    if line.isascii():
        return line[start:end]
    return line.encode()[start:end].decode(errors="replace")


def _scope_locals(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[set, set]:
    """Names local to a function (params and bindings) and names it declares global."""
    local: set[str] = set()
    declared_global: set[str] = set()
    args = fn.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            local.add(a.arg)
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    for node in _walk_scope(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            local.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.add(node.name)
        elif isinstance(node, ast.alias):
            local.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            local.add(node.name)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            local.update(node.names)
    return local - declared_global, declared_global


def _walk_scope(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Walk nodes without entering nested function, class or comprehension scopes."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _SCOPE_NODES):
                yield child  # its name binds here; its body is another scope
                if not isinstance(child, ast.Lambda):
                    stack.extend(child.decorator_list)
                continue
            if isinstance(child, _COMPREHENSIONS):
                continue
            stack.append(child)


def is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function's body only documents it: docstring, ``...``, pass, or NotImplementedError."""
    body = list(fn.body)
    had_doc = False
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            had_doc = True
            body = body[1:]
    if not body:
        return had_doc
    if len(body) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return stmt.value.value is Ellipsis
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _unpack_count(target: ast.AST) -> int | None:
    if isinstance(target, (ast.Tuple, ast.List)) and not any(
        isinstance(e, ast.Starred) for e in target.elts
    ):
        return len(target.elts)
    return None


def _unpack_call(hook: str, value: ast.expr, n: int) -> ast.expr:
    return located(ast.Call(ast.Name(hook, ast.Load()), [value, ast.Constant(n)], []), value)


def _unpack_standins(stmt: ast.stmt) -> None:
    """Partial programs: a stand-in unpacks into as many stand-ins as the target wants."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        n = _unpack_count(stmt.targets[0])
        if n is not None:
            stmt.value = _unpack_call(UNPACK_HOOK, stmt.value, n)
    elif isinstance(stmt, ast.For):
        n = _unpack_count(stmt.target)
        if n is not None:
            stmt.iter = _unpack_call(UNPACK_ITER_HOOK, stmt.iter, n)


def _name_uses(tree: ast.AST) -> tuple[dict[str | int, dict], dict[int, str]]:
    """How each name, and each call's result (by node id), is used: attributes read, called,
    subscripted, iterated, entered; and the name each plain ``x = call(...)`` assigns to."""
    uses: dict[str | int, dict] = {}
    targets: dict[int, str] = {}

    def use(node: ast.AST) -> dict:
        if isinstance(node, ast.Name):
            key: str | int = node.id
        elif isinstance(node, ast.Call):
            key = id(node)
        else:
            return {"attrs": set()}  # a use of something else: not tracked
        fresh = {
            "attrs": set(),
            "called": False,
            "subscripted": False,
            "iterated": False,
            "caught": False,
        }
        return uses.setdefault(key, {**fresh, "entered": False})

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            use(node.value)["attrs"].add(node.attr)
        elif isinstance(node, ast.Call):
            use(node.func)["called"] = True
        elif isinstance(node, ast.Subscript):
            use(node.value)["subscripted"] = True
        elif isinstance(node, (ast.For, ast.comprehension)):
            use(node.iter)["iterated"] = True
        elif isinstance(node, ast.withitem):
            use(node.context_expr)["entered"] = True
        elif isinstance(node, ast.ExceptHandler) and node.type is not None:
            for caught in node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]:
                use(caught)["caught"] = True
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
        ):
            targets[id(node.value)] = node.targets[0].id
    return uses, targets


def _module_bound_names(tree: ast.Module) -> set[str]:
    """Names a cell binds at module level (assignments, definitions, imports)."""
    bound: set[str] = set()
    for n in _walk_scope(tree.body):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            bound.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in n.names)
    return bound


def _merge_uses(a: dict | None, b: dict | None) -> dict | None:
    if not a or not b:
        return a or b
    merged = {k: a[k] or b[k] for k in a if k != "attrs"}
    merged["attrs"] = set(a["attrs"]) | set(b["attrs"])
    return merged


COMPOUND_STATEMENTS = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.Match)


def _ends_snippet(stmt: ast.stmt) -> bool:
    """A top-level ``return``/``yield`` in a snippet: it ends the snippet."""
    if isinstance(stmt, ast.Return):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Yield, ast.YieldFrom))


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    """For ``a.b.c`` return ("a", "a.b.c"); None if it is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return node.id, ".".join(reversed(parts))


@dataclass
class _Context:
    scope: str = "module"
    top_level: bool = True
    in_try_body: bool = False
    local: frozenset[str] = frozenset()
    declared_global: frozenset[str] = frozenset()
    enclosing: frozenset[str] = frozenset()


class Instrumenter:
    """Rewrites one checked cell for emulation (interweave mode)."""

    def __init__(
        self,
        source: str,
        known: Iterable[str],
        ids: Iterator[int],
        *,
        wrap_statements: bool = True,
        value_hooks: bool = True,
        record_ran: bool = False,
        partial: bool = False,
        cell: str = "",
    ) -> None:
        self.record_ran = record_ran
        self.partial = partial
        self.cell = cell
        self.source = source
        self.lines = source.splitlines()
        self.known = frozenset(known)
        self.ids = ids
        self.wrap_statements = wrap_statements
        self.value_hooks = value_hooks
        self.sites: dict[int, Site] = {}
        self._bound: set[str] = set()
        self._module_bound: set[str] = set()
        self._uses: dict[str | int, dict] = {}
        self._call_targets: dict[int, str] = {}
        self._names = _Names()
        self._any_undefined = False
        self._expect: dict[int, dict] = {}

    # -- entry point -------------------------------------------------------------

    def run(self, tree: ast.Module) -> Instrumented:
        """Rewrite the cell; the tree is changed in place and returned."""
        self._bound = bound_names(tree)
        self._module_bound = _module_bound_names(tree) if self.partial else set()
        self._names = _statement_names(tree)
        self._uses, self._call_targets = _name_uses(tree) if self.partial else ({}, {})
        self._any_undefined = any(self.is_undefined(n) for n in self._names.loaded)
        needs_hooks = self.value_hooks and (self._any_undefined or self.partial)
        self._expect = infer_expectations(tree) if needs_hooks else {}
        top_sites: list[Site] = []
        ctx = _Context()
        new_body: list[ast.stmt] = []
        for stmt in tree.body:
            top_sites.append(self._stmt_site(stmt, ctx, top_level=True))
            new_body.extend(self._statement(stmt, ctx))
        tree.body = new_body
        return Instrumented(tree, self.sites, top_sites)

    def is_undefined(self, name: str) -> bool:
        """Whether a name is bound nowhere: not in the namespace, builtins or the cell."""
        return name not in self.known and name not in self._bound

    # -- sites -------------------------------------------------------------------

    def _segment(self, node: ast.AST) -> str:
        """The source text of a node (ast.get_source_segment re-splits the source each call)."""
        lineno, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if lineno is None or end is None or end > len(self.lines):
            return ast.unparse(node)
        col, end_col = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        if lineno == end:
            return _utf8_slice(self.lines[lineno - 1], col, end_col)
        first = _utf8_slice(self.lines[lineno - 1], col, None)
        last = _utf8_slice(self.lines[end - 1], 0, end_col)
        return "\n".join([first, *self.lines[lineno : end - 1], last])

    def _new_site(self, kind: str, node: ast.stmt | ast.expr, **kw: object) -> Site:
        site = Site(
            id=next(self.ids),
            kind=kind,
            line=node.lineno,
            source=self._segment(node),
            cell=self.cell,
            **kw,  # type: ignore[arg-type]
        )
        self.sites[site.id] = site
        return site

    def _stmt_site(self, stmt: ast.stmt, ctx: _Context, top_level: bool = False) -> Site:
        referenced = self._names.referenced.get(id(stmt)) or referenced_names(stmt)
        if ctx.scope == "function":
            # Only names the statement itself binds are rebound by generated code;
            # containers it merely reads are updated in place by the runtime.
            stored = self._names.stored.get(id(stmt), frozenset())
            assignable = tuple(
                n
                for n in referenced
                if n in stored and (n in ctx.local or n in ctx.declared_global)
            )
            globals_ = tuple(
                n
                for n in referenced
                if n not in ctx.local and (n in ctx.declared_global or n not in ctx.enclosing)
            )
        else:
            assignable, globals_ = referenced, referenced
        return self._new_site(
            "stmt",
            stmt,
            scope=ctx.scope,
            referenced=referenced,
            assignable=assignable,
            global_names=globals_,
            top_level=top_level,
            targets=tuple(n for n in referenced if n in self._names.stored.get(id(stmt), ())),
            simple=isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)),
        )

    # -- statements --------------------------------------------------------------

    def _body(self, stmts: list[ast.stmt], ctx: _Context) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            out.extend(self._statement(stmt, ctx))
        return out

    def _statement(self, stmt: ast.stmt, ctx: _Context) -> list[ast.stmt]:
        inner = _Context(**{**ctx.__dict__, "top_level": False})
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._function(stmt, ctx)
            return self._wrap([stmt], stmt, ctx)
        if isinstance(stmt, ast.ClassDef):
            for expr_field in ("bases", "keywords", "decorator_list"):
                setattr(stmt, expr_field, [self._expr(ctx, e) for e in getattr(stmt, expr_field)])
            class_ctx = _Context(
                scope="class",
                top_level=False,
                in_try_body=False,
                enclosing=ctx.enclosing | ctx.local,
            )
            stmt.body = self._body(stmt.body, class_ctx)
            return self._wrap([stmt], stmt, ctx)
        if isinstance(stmt, ast.Try):
            stmt.body = self._body(stmt.body, _Context(**{**inner.__dict__, "in_try_body": True}))
            for handler in stmt.handlers:
                if handler.type is not None:
                    handler.type = self._expr(ctx, handler.type)
                handler.body = self._body(handler.body, inner)
            stmt.orelse = self._body(stmt.orelse, inner)
            stmt.finalbody = self._body(stmt.finalbody, inner)
            self._mark_branches(stmt, ctx)
            result: list[ast.stmt] = [stmt]
            if stmt.handlers and self.wrap_statements:
                result = [self._count_try_depth(stmt)]
            return self._wrap(result, stmt, ctx)
        # Compound statements: rewrite headers, recurse into bodies.
        for name in ("body", "orelse", "finalbody"):
            if isinstance(getattr(stmt, name, None), list):
                setattr(stmt, name, self._body(getattr(stmt, name), inner))
        if isinstance(stmt, ast.Match):
            stmt.subject = self._expr(ctx, stmt.subject)
            for case in stmt.cases:
                if case.guard is not None:
                    case.guard = self._expr(ctx, case.guard)
                case.body = self._body(case.body, inner)
            self._mark_branches(stmt, ctx)
            return self._wrap([stmt], stmt, ctx)
        for name, value in ast.iter_fields(stmt):
            if name in ("body", "orelse", "finalbody", "annotation"):
                continue
            if isinstance(value, ast.expr):
                setattr(stmt, name, self._expr(ctx, value))
            elif isinstance(value, list):
                setattr(
                    stmt, name, [self._expr(ctx, v) if isinstance(v, ast.AST) else v for v in value]
                )
        if self.partial:
            _unpack_standins(stmt)
        if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With)):
            self._mark_branches(stmt, ctx)
        if isinstance(stmt, ast.AnnAssign):
            stmt.annotation = cast(ast.expr, self._annotation(stmt.annotation))
        if self.partial and ctx.scope == "module" and _ends_snippet(stmt):
            value = stmt.value if isinstance(stmt, ast.Return) else cast(Any, stmt).value.value
            call = ast.Call(ast.Name("exit", ast.Load()), [value] if value is not None else [], [])
            stmt = located(ast.Expr(call), stmt)
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            return self._wrap_return(stmt, ctx)
        return self._wrap([stmt], stmt, ctx)

    def _annotation(self, node: ast.expr | None) -> ast.expr | None:
        """An annotation naming something undefined is kept as a string, unevaluated."""
        if node is None or not self.value_hooks:
            return node
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if any(self.is_undefined(n) for n in names):
            return located(ast.Constant(ast.unparse(node)), node)
        return node

    def _function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, ctx: _Context) -> None:
        fn.decorator_list = [self._expr(ctx, d) for d in fn.decorator_list]
        args = fn.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                a.annotation = self._annotation(a.annotation)
        args.defaults = [self._expr(ctx, d) for d in args.defaults]
        args.kw_defaults = [None if d is None else self._expr(ctx, d) for d in args.kw_defaults]
        fn.returns = self._annotation(fn.returns)
        local, declared_global = _scope_locals(fn)
        fn_ctx = _Context(
            scope="function",
            top_level=False,
            in_try_body=False,
            local=frozenset(local),
            declared_global=frozenset(declared_global),
            enclosing=ctx.enclosing | (ctx.local if ctx.scope == "function" else frozenset()),
        )
        stub = self.value_hooks and is_stub(fn)
        if stub:
            site = self._new_site(
                "stub",
                fn,
                name=fn.name,
                stub_source=self._segment(fn),
                expect=from_annotation(fn.returns),
            )
            deco = ast.Call(
                func=ast.Name(STUB_HOOK, ast.Load()), args=[ast.Constant(site.id)], keywords=[]
            )
            fn.decorator_list.append(located(deco, fn))
        fn.body = self._body(fn.body, fn_ctx)

    def _count_try_depth(self, stmt: ast.Try) -> ast.stmt:
        """Raise the runtime's try depth while a user ``try`` runs, so inner failures
        reach the user's own handlers instead of the emulator."""

        def bump(op: ast.operator) -> ast.stmt:
            target = ast.Attribute(ast.Name(RUNTIME_NAME, ast.Load()), "try_depth", ast.Store())
            return ast.AugAssign(target, op, ast.Constant(1))

        wrapper = ast.Try(
            body=[located(bump(ast.Add()), stmt), stmt],
            handlers=[],
            orelse=[],
            finalbody=[located(bump(ast.Sub()), stmt)],
        )
        return ast.copy_location(wrapper, stmt)

    @staticmethod
    def _hook_call(hook: str, site_id: int, *, with_exc: bool) -> ast.Call:
        args: list[ast.expr] = [ast.Constant(site_id)]
        if with_exc:
            args.append(ast.Name(_EXC, ast.Load()))
        args.append(ast.Call(ast.Name(LOCALS_HOOK, ast.Load()), [], []))
        return ast.Call(func=ast.Name(hook, ast.Load()), args=args, keywords=[])

    def _wrap(self, stmts: list[ast.stmt], original: ast.stmt, ctx: _Context) -> list[ast.stmt]:
        wrap = not (
            not self.wrap_statements
            or ctx.top_level
            or ctx.in_try_body
            or isinstance(original, _NEVER_WRAPPED)
        )
        record = (
            self.record_ran
            and not ctx.top_level
            and not isinstance(original, (ast.Raise, *COMPOUND_STATEMENTS))
        )
        if not wrap and not record:
            return stmts
        site = self._stmt_site(original, ctx)
        ran = located(ast.Expr(self._hook_call(RAN_HOOK, site.id, with_exc=False)), original)
        if not wrap:
            if isinstance(original, (ast.Pass, ast.Break, ast.Continue)):
                return [ran, *stmts]
            return [*stmts, ran]
        call = self._hook_call(STMT_HOOK, site.id, with_exc=True)
        handler_body: list[ast.stmt]
        if ctx.scope == "function" and site.assignable:
            handler_body = [ast.Assign([ast.Name(_DELTA, ast.Store())], call)]
            for name in site.assignable:
                handler_body.append(
                    ast.If(
                        test=ast.Compare(
                            ast.Constant(name), [ast.In()], [ast.Name(_DELTA, ast.Load())]
                        ),
                        body=[
                            ast.Assign(
                                [ast.Name(name, ast.Store())],
                                ast.Subscript(
                                    ast.Name(_DELTA, ast.Load()), ast.Constant(name), ast.Load()
                                ),
                            )
                        ],
                        orelse=[],
                    )
                )
        else:
            handler_body = [ast.Expr(call)]
        node = self._try(stmts, handler_body, original)
        if record:
            node.orelse = [ran]
        return [node]

    def _mark_branches(self, stmt: ast.stmt, ctx: _Context) -> None:
        """Full trace: a compound statement counts as run when one of its branches starts."""
        if not self.record_ran:
            return
        site = self._stmt_site(stmt, ctx, top_level=ctx.top_level)

        def ran() -> ast.stmt:
            return located(ast.Expr(self._hook_call(RAN_HOOK, site.id, with_exc=False)), stmt)

        if isinstance(stmt, ast.Match):
            for case in stmt.cases:
                case.body.insert(0, ran())
            return
        stmt.body.insert(0, ran())  # type: ignore[attr-defined]
        if isinstance(stmt, (ast.If, ast.For, ast.While)):
            stmt.orelse.insert(0, ran())
        elif isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                handler.body.insert(0, ran())

    def _wrap_return(self, stmt: ast.Return, ctx: _Context) -> list[ast.stmt]:
        if not self.wrap_statements or ctx.in_try_body:
            return [stmt]
        refs = self._names.referenced.get(id(stmt)) or referenced_names(stmt)
        site = self._new_site("return", stmt, scope=ctx.scope, referenced=refs)
        fallback = ast.Return(self._hook_call(RETURN_HOOK, site.id, with_exc=True))
        if not self.record_ran:
            return [self._try([stmt], [fallback], stmt)]
        # Full trace: evaluate, record that the statement ran, then return.
        assert stmt.value is not None
        compute = ast.copy_location(
            ast.Assign([ast.Name(_RETURN_VALUE, ast.Store())], stmt.value), stmt
        )
        located(compute, stmt)
        ran = located(ast.Expr(self._hook_call(RAN_HOOK, site.id, with_exc=False)), stmt)
        give = located(ast.Return(ast.Name(_RETURN_VALUE, ast.Load())), stmt)
        return [self._try([compute], [fallback], stmt), ran, give]

    @staticmethod
    def _try(body: list[ast.stmt], handler_body: list[ast.stmt], at: ast.stmt) -> ast.Try:
        handler = ast.ExceptHandler(
            type=ast.Name("Exception", ast.Load()), name=_EXC, body=handler_body
        )
        located(handler, at)
        node = ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])
        return ast.copy_location(node, at)

    # -- expressions -------------------------------------------------------------

    def _expr(self, ctx: _Context, node: ExprT) -> ExprT:
        """``node`` with reads of missing names and calls of missing functions hooked."""
        if not self.value_hooks or not (self._any_undefined or self.partial):
            return node
        local = ctx.local | ctx.enclosing if ctx.scope == "function" else frozenset()
        return cast(ExprT, _ValueRewriter(self, local, ctx.scope == "module").visit(node))

    def is_missing(self, name: str, local: frozenset[str], module_scope: bool) -> bool:
        """Whether a name read here may have no binding when it runs.

        For a partial program that includes names the cell binds later (or only in some other
        scope); the hook then finds the binding if there is one by then.
        """
        if not self.partial:
            return self.is_undefined(name)
        if name in local or name in self.known:
            return False
        return module_scope or name not in self._module_bound


class _ValueRewriter(ast.NodeTransformer):
    """Turns calls to undefined functions and reads of undefined names into hook calls."""

    def __init__(self, owner: Instrumenter, local: frozenset[str], module_scope: bool) -> None:
        self.owner = owner
        self.local: set[str] = set(local)
        self.module_scope = module_scope

    def missing(self, name: str) -> bool:
        """Whether this read needs the hook."""
        return self.owner.is_missing(name, frozenset(self.local), self.module_scope)

    def _scoped(self, node: ast.AST, names: set[str]) -> ast.AST:
        """Visit a lambda or comprehension with its own names treated as local."""
        added = names - self.local
        self.local |= added
        try:
            self.generic_visit(node)
        finally:
            self.local -= added
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        args = node.args
        names = {
            a.arg
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            if a
        }
        return self._scoped(node, names)

    def _comprehension(self, node: ast.AST) -> ast.AST:
        if self.owner.partial:
            for gen in node.generators:  # type: ignore[attr-defined]
                n = _unpack_count(gen.target)
                if n is not None:
                    gen.iter = _unpack_call(UNPACK_ITER_HOOK, gen.iter, n)
        names = {
            n.id
            for gen in node.generators  # type: ignore[attr-defined]
            for n in ast.walk(gen.target)
            if isinstance(n, ast.Name)
        }
        return self._scoped(node, names)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Call(self, node: ast.Call) -> ast.AST:
        dotted = _dotted(node.func)
        if dotted is not None and self.missing(dotted[0]):
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            target = self.owner._call_targets.get(id(node))
            site = self.owner._new_site(
                "call",
                node,
                name=dotted[1],
                expect=self.owner._expect.get(id(node)),
                uses=_merge_uses(
                    self.owner._uses.get(id(node)),
                    self.owner._uses.get(target) if target is not None else None,
                ),
                root_uses=self.owner._uses.get(dotted[0]),
            )
            call = ast.Call(
                func=ast.Name(CALL_HOOK, ast.Load()),
                args=[ast.Constant(site.id), ast.Constant(dotted[1]), *node.args],
                keywords=node.keywords,
            )
            return located(call, node)
        self.generic_visit(node)
        if (
            self.owner.partial
            and self.module_scope
            and isinstance(node.func, ast.Name)
            and node.func.id == "super"
        ):
            # A method body lifted out of its class: super() has no class here.
            return self._name_hook(node, "super()")
        if self.owner.partial and not (
            isinstance(node.func, ast.Name) and node.func.id in _FRAME_CALLS
        ):
            site = self.owner._new_site("call", node, name=ast.unparse(node.func)[:80])
            call = ast.Call(
                func=ast.Name(PCALL_HOOK, ast.Load()),
                args=[ast.Constant(site.id), node.func, *node.args],
                keywords=node.keywords,
            )
            return located(call, node)
        return node

    def _name_hook(self, node: ast.expr, dotted: str) -> ast.AST:
        site = self.owner._new_site(
            "name",
            node,
            name=dotted,
            expect=self.owner._expect.get(id(node)),
            uses=self.owner._uses.get(dotted.split(".")[0]),
            root_uses=self.owner._uses.get(dotted.split(".")[0]),
        )
        call = ast.Call(
            func=ast.Name(NAME_HOOK, ast.Load()),
            args=[ast.Constant(site.id), ast.Constant(dotted)],
            keywords=[],
        )
        return located(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted is not None and self.missing(dotted[0]):
                return self._name_hook(node, dotted[1])
        self.generic_visit(node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and self.missing(node.id):
            return self._name_hook(node, node.id)
        return node


def new_site_ids() -> Iterator[int]:
    """A fresh source of site ids for one session."""
    return itertools.count(1)
