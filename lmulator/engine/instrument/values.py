"""The expression rewrite: reads of missing names and calls of missing functions become hook calls.

``f(x)`` with ``f`` undefined becomes ``_lm_call_(SITE, "f", x)``; ``name`` becomes
``_lm_name_(SITE, "name")``; in a partial program a call of a defined function becomes
``_lm_pcall_(SITE, f, x)`` (a stand-in reaching it gives a stand-in) and unpacking a
stand-in gives as many stand-ins as the target wants.
"""

from __future__ import annotations

import ast
from typing import Any, Protocol

from ...astutil import located
from ...kinds import SiteKind
from .analysis import dotted_name, merge_uses, unpack_call, unpack_count
from .sites import CALL_HOOK, FRAME_CALLS, NAME_HOOK, PCALL_HOOK, UNPACK_ITER_HOOK, Site


class RewriteOwner(Protocol):
    """What the expression rewrite reads from the cell's rewrite (`Instrumenter`)."""

    partial: bool
    uses: dict[str | int, dict]
    call_targets: dict[int, str]
    expectations: dict[int, dict]

    def is_missing(self, name: str, local: frozenset[str], module_scope: bool) -> bool:
        """Whether a name read here may have no binding when it runs."""
        ...

    def new_site(self, kind: SiteKind, node: ast.stmt | ast.expr, **kw: Any) -> Site:
        """A new site for ``node``."""
        ...


class ValueRewriter(ast.NodeTransformer):
    """Turns calls to undefined functions and reads of undefined names into hook calls."""

    def __init__(self, owner: RewriteOwner, local: frozenset[str], module_scope: bool) -> None:
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
                n = unpack_count(gen.target)
                if n is not None:
                    gen.iter = unpack_call(UNPACK_ITER_HOOK, gen.iter, n)
        names = {
            n.id
            for gen in node.generators  # type: ignore[attr-defined]
            for n in ast.walk(gen.target)
            if isinstance(n, ast.Name)
        }
        return self._scoped(node, names)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Call(self, node: ast.Call) -> ast.AST:
        dotted = dotted_name(node.func)
        if dotted is not None and self.missing(dotted[0]):
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            target = self.owner.call_targets.get(id(node))
            site = self.owner.new_site(
                "call",
                node,
                name=dotted[1],
                expect=self.owner.expectations.get(id(node)),
                uses=merge_uses(
                    self.owner.uses.get(id(node)),
                    self.owner.uses.get(target) if target is not None else None,
                ),
                root_uses=self.owner.uses.get(dotted[0]),
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
            isinstance(node.func, ast.Name) and node.func.id in FRAME_CALLS
        ):
            site = self.owner.new_site("call", node, name=ast.unparse(node.func)[:80])
            call = ast.Call(
                func=ast.Name(PCALL_HOOK, ast.Load()),
                args=[ast.Constant(site.id), node.func, *node.args],
                keywords=node.keywords,
            )
            return located(call, node)
        return node

    def _name_hook(self, node: ast.expr, dotted: str) -> ast.AST:
        site = self.owner.new_site(
            "name",
            node,
            name=dotted,
            expect=self.owner.expectations.get(id(node)),
            uses=self.owner.uses.get(dotted.split(".")[0]),
            root_uses=self.owner.uses.get(dotted.split(".")[0]),
        )
        call = ast.Call(
            func=ast.Name(NAME_HOOK, ast.Load()),
            args=[ast.Constant(site.id), ast.Constant(dotted)],
            keywords=[],
        )
        return located(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.ctx, ast.Load):
            dotted = dotted_name(node)
            if dotted is not None and self.missing(dotted[0]):
                return self._name_hook(node, dotted[1])
        self.generic_visit(node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and self.missing(node.id):
            return self._name_hook(node, node.id)
        return node
