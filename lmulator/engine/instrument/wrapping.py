"""The statement rewrite's pieces: ``try``/``except`` around a statement whose handler asks the
runtime, binding a delta into a function's locals, counting the program's own ``try`` blocks,
and marking that a branch started.

A statement ``S`` below the top level becomes::

    try:
        S
    except Exception as _lm_e_:
        _lm_d_ = _lm_stmt_(SITE, _lm_e_, _lm_locals_())
        if "x" in _lm_d_:
            x = _lm_d_["x"]          # one test per name S may bind
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from ...astutil import located
from .sites import COMPOUND_STATEMENTS, DELTA_NAME, EXC_NAME, LOCALS_HOOK, RUNTIME_NAME


def hook_call(hook: str, site_id: int, *, with_exc: bool) -> ast.Call:
    """``hook(SITE[, _lm_e_], _lm_locals_())``."""
    args: list[ast.expr] = [ast.Constant(site_id)]
    if with_exc:
        args.append(ast.Name(EXC_NAME, ast.Load()))
    args.append(ast.Call(ast.Name(LOCALS_HOOK, ast.Load()), [], []))
    return ast.Call(func=ast.Name(hook, ast.Load()), args=args, keywords=[])


def try_except(body: list[ast.stmt], handler_body: list[ast.stmt], at: ast.stmt) -> ast.Try:
    """``try: body`` / ``except Exception as _lm_e_: handler_body``, located at ``at``."""
    handler = ast.ExceptHandler(
        type=ast.Name("Exception", ast.Load()), name=EXC_NAME, body=handler_body
    )
    located(handler, at)
    node = ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])
    return ast.copy_location(node, at)


def bind_delta(call: ast.Call, names: Iterable[str]) -> list[ast.stmt]:
    """``_lm_d_ = call``, then each of ``names`` the delta holds bound as a local."""
    body: list[ast.stmt] = [ast.Assign([ast.Name(DELTA_NAME, ast.Store())], call)]
    for name in names:
        test = ast.Compare(ast.Constant(name), [ast.In()], [ast.Name(DELTA_NAME, ast.Load())])
        value = ast.Subscript(ast.Name(DELTA_NAME, ast.Load()), ast.Constant(name), ast.Load())
        bind = ast.Assign([ast.Name(name, ast.Store())], value)
        body.append(ast.If(test=test, body=[bind], orelse=[]))
    return body


def count_try_depth(stmt: ast.Try) -> ast.stmt:
    """Raise the runtime's try depth while a program's ``try`` runs, so inner failures reach
    the program's own handlers instead of the emulator."""

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


def mark_each_branch(stmt: ast.stmt, ran: Callable[[], ast.stmt]) -> None:
    """Put ``ran()`` first in each branch of a compound statement."""
    assert isinstance(stmt, COMPOUND_STATEMENTS)
    if isinstance(stmt, ast.Match):
        for case in stmt.cases:
            case.body.insert(0, ran())
        return
    stmt.body.insert(0, ran())
    if isinstance(stmt, (ast.If, ast.For, ast.While)):
        stmt.orelse.insert(0, ran())
    elif isinstance(stmt, ast.Try):
        for handler in stmt.handlers:
            handler.body.insert(0, ran())
