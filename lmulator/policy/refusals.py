"""What the policy raises at run time when a program reaches past it."""

from __future__ import annotations

from typing import Any

from ..errors import Refusal


class PolicyError(Refusal, Exception):
    """Restricted code tried something the policy forbids."""


class ImportRefused(Refusal, ImportError):
    """An import the policy's allow-list does not allow."""


class Uncopyable:
    """An engine object a program can reach but may neither copy nor reduce: the copy protocol
    reads an object's ``__dict__`` past the attribute guards, and hands what it finds (the import
    gate, the session) to the program in its memo."""

    def _refuse(self, *args: Any) -> Any:
        raise PolicyError(f"{type(self).__name__} objects cannot be copied or reduced")

    __reduce__ = __reduce_ex__ = __copy__ = __deepcopy__ = _refuse
