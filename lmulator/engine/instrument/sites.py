"""What instrumentation produces: the hook names compiled code calls, and the sites it marks."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TypeVar

from ...kinds import SiteKind

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
FRAME_CALLS = frozenset({"super", "locals", "vars", "dir", "globals", "eval", "exec"})
LOCALS_HOOK = "_lm_locals_"
RUNTIME_NAME = "_lm_rt_"
EXC_NAME = "_lm_e_"
DELTA_NAME = "_lm_d_"
RETURN_VALUE_NAME = "_lm_rv_"

SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# Never handed to the LM: control flow, declarations, and a program's own raise/assert.
NEVER_WRAPPED = (
    ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Raise, ast.Assert,
)  # fmt: skip


#: A node type kept through a rewrite (an expression stays an expression).
ExprT = TypeVar("ExprT", bound=ast.AST)


@dataclass
class Site:
    """A place in a cell where the emulator may be asked for something."""

    id: int
    kind: SiteKind
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


COMPOUND_STATEMENTS = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.Match)
