"""Small helpers for generated syntax trees."""

from __future__ import annotations

import ast
from typing import TypeVar

T = TypeVar("T", bound=ast.AST)


def located(new: T, at: ast.AST) -> T:
    """Give the nodes of a generated subtree that have no location the location of ``at``."""
    for sub in ast.walk(new):
        if "lineno" in sub._attributes and not hasattr(sub, "lineno"):
            ast.copy_location(sub, at)
    return new


#: Nodes that open a scope of their own: the names bound inside them are not the enclosing one's.
_OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
               ast.SetComp, ast.DictComp, ast.GeneratorExp)  # fmt: skip


def class_scope_bindings(node: ast.ClassDef) -> list[tuple[ast.AST, str]]:
    """Every name a class body binds in the class's own namespace, with the node binding it:
    assignment, loop, ``with`` and walrus targets, deletions, imports, definitions, ``except``
    and ``match`` captures (nested functions, classes and comprehensions bind in scopes of their
    own; their names, and the expressions evaluated in the class scope, are still seen)."""
    found: list[tuple[ast.AST, str]] = []
    todo: list[ast.AST] = list(node.body)
    while todo:
        sub = todo.pop()
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((sub, sub.name))
            todo.extend([*sub.decorator_list, *_evaluated_here(sub)])
            continue
        if isinstance(sub, ast.Lambda):
            todo.extend([*sub.args.defaults, *(d for d in sub.args.kw_defaults if d)])
            continue
        if isinstance(sub, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            todo.append(sub.generators[0].iter)  # the first iterable is evaluated here
            continue
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            found.append((sub, sub.id))
        elif isinstance(sub, ast.alias):
            found.append((sub, sub.asname or sub.name.split(".")[0]))
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            found.append((sub, sub.name))
        elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
            found.append((sub, sub.name))
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            found.append((sub, sub.rest))
        todo.extend(ast.iter_child_nodes(sub))
    return found


def _evaluated_here(node: ast.AST) -> list[ast.AST]:
    """What a nested definition evaluates in the enclosing scope: its defaults, annotations of a
    function (unless postponed) and bases and keywords of a class."""
    if isinstance(node, ast.ClassDef):
        return [*node.bases, *(k.value for k in node.keywords)]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    notes = [a.annotation for a in every if a is not None and a.annotation is not None]
    returns = [node.returns] if node.returns is not None else []
    return [*args.defaults, *(d for d in args.kw_defaults if d), *notes, *returns]
