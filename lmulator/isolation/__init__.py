"""Isolation: a cell run in a child process with its own limits (`IsolatedSession`), and the
child's side of that conversation (`worker`)."""

from .session import ChildLimits, IsolatedSession

__all__ = ["ChildLimits", "IsolatedSession"]
