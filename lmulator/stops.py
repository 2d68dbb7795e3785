"""Stops a program cannot swallow: after an interrupt or a time limit, every loop stops.

A cell that catches ``BaseException`` in a loop (``while True: try: ... except BaseException:
pass``) would ignore both an interrupt and its time limit. So the engine adds one check at the
top of every loop body and every function body of the cell::

    while cond:                 while cond:
        body            ->          if __lmulator_stop__: raise __lmulator_stop__
                                    body

``__lmulator_stop__`` is a global of the cell's namespace (a name the restricted policy does not
let a cell touch): ``None`` while the cell runs normally, and the exception to raise once the
cell was interrupted or ran out of time. Any endless Python-level computation goes through a loop
or a call, so it ends at the next iteration or call, wherever its handlers are. The check costs a
global load and a test per iteration. C-level loops do not run Python code; the process that
holds the cell has to be ended for those (an isolated session, or the sandbox's broker).
"""

from __future__ import annotations

import ast
from typing import Any

STOP_NAME = "__lmulator_stop__"


def _check(node: ast.AST) -> ast.If:
    check = ast.If(
        test=ast.Name(STOP_NAME, ast.Load()),
        body=[ast.Raise(exc=ast.Name(STOP_NAME, ast.Load()), cause=None)],
        orelse=[],
    )
    return ast.copy_location(check, node)


class _StopChecks(ast.NodeVisitor):
    """Put a stop check at the top of every loop and function body, everywhere in a tree."""

    def _prepend(self, node: Any) -> None:
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

    def generic_visit(self, node: ast.AST) -> None:
        super().generic_visit(node)
        if isinstance(node, (ast.While, ast.For, ast.AsyncFor, ast.FunctionDef,
                             ast.AsyncFunctionDef)):  # fmt: skip
            self._prepend(node)


def add_stop_checks(tree: ast.Module) -> ast.Module:
    """Add the stop checks to a cell's tree, in place; return it."""
    _StopChecks().visit(tree)
    ast.fix_missing_locations(tree)
    return tree
