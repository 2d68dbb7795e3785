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
