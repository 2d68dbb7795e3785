"""Calling what a partial program defined but never ran, with stand-ins for its parameters."""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Iterable
from typing import Any

from ..errors import EmulationAbort
from .standin import SnippetExit, StandIn


def exercise_definitions(
    namespace: dict[str, Any], source: str, ran_lines: Iterable[int], max_items: int = 3
) -> int:
    """Call the functions and methods ``source`` defined whose bodies never ran.

    Each gets stand-ins for its parameters (generators yield up to ``max_items``); the first
    call that fails ends the exercise, as a failing statement ends a run. Returns how many
    were called.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0
    ran = set(ran_lines)
    targets: list[tuple[ast.FunctionDef, str | None]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            targets.append((node, None))
        elif isinstance(node, ast.ClassDef):
            targets.extend((n, node.name) for n in node.body if isinstance(n, ast.FunctionDef))
    called = 0
    for fn_node, class_name in targets:
        body_lines = range(fn_node.body[0].lineno, (fn_node.end_lineno or fn_node.lineno) + 1)
        if any(line in ran for line in body_lines):
            continue
        fn = _bound_callable(namespace, fn_node.name, class_name)
        if fn is None:
            continue
        called += 1
        try:
            value = fn(*standin_args(fn))
            if isinstance(value, types.GeneratorType):
                for _, _item in zip(range(max_items), value, strict=False):
                    pass
        except SnippetExit:
            continue
        except (Exception, EmulationAbort):  # the LM gave nothing (no time left): a failure too
            break
    return called


def _bound_callable(namespace: dict[str, Any], name: str, class_name: str | None) -> Any:
    """The function ``name``, or the method of a fresh instance of ``class_name``."""
    if class_name is None:
        fn = namespace.get(name)
        return fn if isinstance(fn, types.FunctionType) else None
    cls = namespace.get(class_name)
    if not isinstance(cls, type):
        return None
    try:
        instance = cls(*standin_args(cls))
    except Exception:
        try:
            instance = object.__new__(cls)
        except TypeError:
            return None
    fn = getattr(instance, name, None)
    return fn if callable(fn) else None


def standin_args(fn: Any) -> list[Any]:
    """Stand-ins for a callable's required positional parameters."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        StandIn(p.name)
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
