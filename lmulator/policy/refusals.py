"""What the policy raises at run time when a program reaches past it."""

from __future__ import annotations

from ..errors import Refusal


class PolicyError(Refusal, Exception):
    """Restricted code tried something the policy forbids."""


class ImportRefused(Refusal, ImportError):
    """An import the policy's allow-list does not allow."""
