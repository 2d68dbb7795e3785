"""One pass of name analysis over a cell: what each statement binds and reads, how each missing
name is used, which functions are stubs."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ...astutil import located
from ...reserved import HOOK_PREFIX
from .sites import COMPREHENSIONS, SCOPE_NODES, UNPACK_HOOK, UNPACK_ITER_HOOK


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
class StatementNames:
    """Names found in one pass over a cell."""

    referenced: dict[int, tuple[str, ...]] = field(default_factory=dict)
    stored: dict[int, frozenset[str]] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)


def statement_names(tree: ast.AST) -> StatementNames:
    """Per statement (by node id): the names it references and the names it binds."""
    result = StatementNames()

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
            if not isinstance(child, SCOPE_NODES + COMPREHENSIONS):
                stored |= child_stored
        if isinstance(node, ast.stmt):
            result.referenced[id(node)] = tuple(seen)
            result.stored[id(node)] = frozenset(stored)
        return seen, stored

    visit(tree)
    return result


def utf8_slice(line: str, start: int | None, end: int | None) -> str:
    """Slice a line by the UTF-8 byte offsets the ast module reports."""
    if line.isascii():
        return line[start:end]
    return line.encode()[start:end].decode(errors="replace")


def scope_locals(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[set, set]:
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
            if isinstance(child, SCOPE_NODES):
                yield child  # its name binds here; its body is another scope
                if not isinstance(child, ast.Lambda):
                    stack.extend(child.decorator_list)
                continue
            if isinstance(child, COMPREHENSIONS):
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


def unpack_count(target: ast.AST) -> int | None:
    if isinstance(target, (ast.Tuple, ast.List)) and not any(
        isinstance(e, ast.Starred) for e in target.elts
    ):
        return len(target.elts)
    return None


def unpack_call(hook: str, value: ast.expr, n: int) -> ast.expr:
    return located(ast.Call(ast.Name(hook, ast.Load()), [value, ast.Constant(n)], []), value)


def unpack_standins(stmt: ast.stmt) -> None:
    """Partial programs: a stand-in unpacks into as many stand-ins as the target wants."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        n = unpack_count(stmt.targets[0])
        if n is not None:
            stmt.value = unpack_call(UNPACK_HOOK, stmt.value, n)
    elif isinstance(stmt, ast.For):
        n = unpack_count(stmt.target)
        if n is not None:
            stmt.iter = unpack_call(UNPACK_ITER_HOOK, stmt.iter, n)


def name_uses(tree: ast.AST) -> tuple[dict[str | int, dict], dict[int, str]]:
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


def module_bound_names(tree: ast.Module) -> set[str]:
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


def merge_uses(a: dict | None, b: dict | None) -> dict | None:
    if not a or not b:
        return a or b
    merged = {k: a[k] or b[k] for k in a if k != "attrs"}
    merged["attrs"] = set(a["attrs"]) | set(b["attrs"])
    return merged


def ends_snippet(stmt: ast.stmt) -> bool:
    """A top-level ``return``/``yield`` in a snippet: it ends the snippet."""
    if isinstance(stmt, ast.Return):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Yield, ast.YieldFrom))


def dotted_name(node: ast.AST) -> tuple[str, str] | None:
    """For ``a.b.c`` return ("a", "a.b.c"); None if it is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return node.id, ".".join(reversed(parts))


def source_segment(lines: list[str], node: ast.AST) -> str:
    """The source text of a node (ast.get_source_segment re-splits the source each call)."""
    lineno, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    if lineno is None or end is None or end > len(lines):
        return ast.unparse(node)
    col, end_col = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
    if lineno == end:
        return utf8_slice(lines[lineno - 1], col, end_col)
    first = utf8_slice(lines[lineno - 1], col, None)
    last = utf8_slice(lines[end - 1], 0, end_col)
    return "\n".join([first, *lines[lineno : end - 1], last])
