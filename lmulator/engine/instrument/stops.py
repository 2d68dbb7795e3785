"""Stops a program cannot swallow: after an interrupt or a time limit, every loop stops.

A cell that catches ``BaseException`` in a loop (``while True: try: ... except BaseException:
pass``) would ignore both an interrupt and its time limit. So the engine adds one check at the
top of every loop body and function body of the cell that could swallow them (one holding a
handler that may catch ``BaseException``, a ``finally`` that returns, breaks or continues, or a
``with``; an ``except Exception`` cannot)::

    while cond:                 while cond:
        body            ->          if __lmulator_stop__: raise __lmulator_stop__
                                    body

``__lmulator_stop__`` is a global of the cell's namespace (a name the restricted policy does not
let a cell touch): ``None`` while the cell runs normally, and the exception to raise once the
cell was interrupted or ran out of time. An endless Python-level computation goes through a loop
or a call; one that swallows the stop must run a checked loop or function again, and raises
there. Loops that cannot swallow cost nothing; a checked one a global load and a test per
iteration. C-level loops do not run Python code; the process that
holds the cell has to be ended for those (an isolated session, or the sandbox's broker).
"""

from __future__ import annotations

import ast
import builtins
from typing import Any

from ...reserved import STOP_NAME


def _check(node: ast.stmt) -> ast.If:
    where: dict[str, Any] = {"lineno": node.lineno, "col_offset": node.col_offset,
                             "end_lineno": node.end_lineno,
                             "end_col_offset": node.end_col_offset}  # fmt: skip
    return ast.If(
        test=ast.Name(STOP_NAME, ast.Load(), **where),
        body=[ast.Raise(exc=ast.Name(STOP_NAME, ast.Load(), **where), cause=None, **where)],
        orelse=[],
        **where,
    )


#: Builtin exception classes that are ``Exception`` subclasses: a handler naming only these
#: cannot catch an interrupt or a time limit (both derive from ``BaseException`` alone).
_SAFE_HANDLER_NAMES = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_CHECKED = (ast.While, ast.For, ast.AsyncFor, ast.FunctionDef, ast.AsyncFunctionDef)


def _handler_may_swallow(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return not all(isinstance(n, ast.Name) and n.id in _SAFE_HANDLER_NAMES for n in names)


def _prepend(node: Any) -> None:
    body = node.body
    at = 0
    if (
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        at = 1  # the docstring stays first
    body.insert(at, _check(body[min(at, len(body) - 1)]))


def _scan(node: ast.AST) -> tuple[bool, bool]:
    """Add checks below ``node``; return (may swallow a stop, may leave a ``finally``), both
    for ``node``'s own scope (nested functions and classes are scopes of their own)."""
    flags: dict[int, tuple[bool, bool]] = {}
    swallows = leaves = False
    for child in ast.iter_child_nodes(node):
        flags[id(child)] = child_flags = _scan(child)
        if not isinstance(child, _SCOPES):
            swallows |= child_flags[0]
            leaves |= child_flags[1]
    if isinstance(node, (ast.Return, ast.Break, ast.Continue)):
        leaves = True
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        swallows = True
    elif isinstance(node, (ast.Try, ast.TryStar)):
        if any(flags[id(stmt)][1] for stmt in node.finalbody) or any(
            _handler_may_swallow(h) for h in node.handlers
        ):
            swallows = True
    if isinstance(node, _CHECKED) and any(flags[id(stmt)][0] for stmt in node.body):
        _prepend(node)
    return swallows, leaves


def add_stop_checks(tree: ast.Module, source: str | None = None) -> ast.Module:
    """Add the stop checks to a cell's tree, in place; return it.

    With the cell's ``source``, a cell that does not spell ``try`` or ``with`` anywhere (most
    cells) is left as it is without walking its tree.
    """
    if source is not None and "try" not in source and "with" not in source:
        return tree
    _scan(tree)
    return tree
