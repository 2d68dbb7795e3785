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
from dataclasses import dataclass
from typing import Any, cast

from ...astutil import located
from ...kinds import SiteKind
from ...partial.expect import from_annotation, infer_expectations
from .analysis import (
    StatementNames,
    bound_names,
    ends_snippet,
    is_stub,
    module_bound_names,
    name_uses,
    referenced_names,
    scope_locals,
    source_segment,
    statement_names,
    unpack_standins,
)
from .sites import (
    COMPOUND_STATEMENTS,
    NEVER_WRAPPED,
    RAN_HOOK,
    RETURN_HOOK,
    RETURN_VALUE_NAME,
    STMT_HOOK,
    STUB_HOOK,
    ExprT,
    Instrumented,
    Site,
)
from .values import ValueRewriter
from .wrapping import bind_delta, count_try_depth, hook_call, mark_each_branch, try_except


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
        self.uses: dict[str | int, dict] = {}
        self.call_targets: dict[int, str] = {}
        self._names = StatementNames()
        self._any_undefined = False
        self.expectations: dict[int, dict] = {}

    # -- entry point -------------------------------------------------------------

    def run(self, tree: ast.Module) -> Instrumented:
        """Rewrite the cell; the tree is changed in place and returned."""
        self._bound = bound_names(tree)
        self._module_bound = module_bound_names(tree) if self.partial else set()
        self._names = statement_names(tree)
        self.uses, self.call_targets = name_uses(tree) if self.partial else ({}, {})
        self._any_undefined = any(self.is_undefined(n) for n in self._names.loaded)
        needs_hooks = self.value_hooks and (self._any_undefined or self.partial)
        self.expectations = infer_expectations(tree) if needs_hooks else {}
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
        return source_segment(self.lines, node)

    def new_site(self, kind: SiteKind, node: ast.stmt | ast.expr, **kw: object) -> Site:
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
        return self.new_site(
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
                result = [count_try_depth(stmt)]
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
            unpack_standins(stmt)
        if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With)):
            self._mark_branches(stmt, ctx)
        if isinstance(stmt, ast.AnnAssign):
            stmt.annotation = cast(ast.expr, self._annotation(stmt.annotation))
        if self.partial and ctx.scope == "module" and ends_snippet(stmt):
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
        local, declared_global = scope_locals(fn)
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
            site = self.new_site(
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

    def _wrap(self, stmts: list[ast.stmt], original: ast.stmt, ctx: _Context) -> list[ast.stmt]:
        wrap = not (
            not self.wrap_statements
            or ctx.top_level
            or ctx.in_try_body
            or isinstance(original, NEVER_WRAPPED)
        )
        record = (
            self.record_ran
            and not ctx.top_level
            and not isinstance(original, (ast.Raise, *COMPOUND_STATEMENTS))
        )
        if not wrap and not record:
            return stmts
        site = self._stmt_site(original, ctx)
        ran = located(ast.Expr(hook_call(RAN_HOOK, site.id, with_exc=False)), original)
        if not wrap:
            if isinstance(original, (ast.Pass, ast.Break, ast.Continue)):
                return [ran, *stmts]
            return [*stmts, ran]
        call = hook_call(STMT_HOOK, site.id, with_exc=True)
        if ctx.scope == "function" and site.assignable:
            handler_body = bind_delta(call, site.assignable)
        else:
            handler_body = [ast.Expr(call)]
        node = try_except(stmts, handler_body, original)
        if record:
            node.orelse = [ran]
        return [node]

    def _mark_branches(self, stmt: ast.stmt, ctx: _Context) -> None:
        """Full trace: a compound statement counts as run when one of its branches starts."""
        if not self.record_ran:
            return
        site = self._stmt_site(stmt, ctx, top_level=ctx.top_level)

        def ran() -> ast.stmt:
            return located(ast.Expr(hook_call(RAN_HOOK, site.id, with_exc=False)), stmt)

        mark_each_branch(stmt, ran)

    def _wrap_return(self, stmt: ast.Return, ctx: _Context) -> list[ast.stmt]:
        if not self.wrap_statements or ctx.in_try_body:
            return [stmt]
        refs = self._names.referenced.get(id(stmt)) or referenced_names(stmt)
        site = self.new_site("return", stmt, scope=ctx.scope, referenced=refs)
        fallback = ast.Return(hook_call(RETURN_HOOK, site.id, with_exc=True))
        if not self.record_ran:
            return [try_except([stmt], [fallback], stmt)]
        # Full trace: evaluate, record that the statement ran, then return.
        assert stmt.value is not None
        compute = ast.copy_location(
            ast.Assign([ast.Name(RETURN_VALUE_NAME, ast.Store())], stmt.value), stmt
        )
        located(compute, stmt)
        ran = located(ast.Expr(hook_call(RAN_HOOK, site.id, with_exc=False)), stmt)
        give = located(ast.Return(ast.Name(RETURN_VALUE_NAME, ast.Load())), stmt)
        return [try_except([compute], [fallback], stmt), ran, give]

    # -- expressions -------------------------------------------------------------

    def _expr(self, ctx: _Context, node: ExprT) -> ExprT:
        """``node`` with reads of missing names and calls of missing functions hooked."""
        if not self.value_hooks or not (self._any_undefined or self.partial):
            return node
        local = ctx.local | ctx.enclosing if ctx.scope == "function" else frozenset()
        return cast(ExprT, ValueRewriter(self, local, ctx.scope == "module").visit(node))

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


def new_site_ids() -> Iterator[int]:
    """A fresh source of site ids for one session."""
    return itertools.count(1)
