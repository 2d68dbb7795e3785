"""The restricted interpreter's policy: what a program may compile, read, write and import.

`policy` (the `Policy` a session runs under, and the compile-time transformer), `guards` (the
run-time checks compiled code calls), `writes` (what a program may write into),
`exposed_modules` (each allowed module's names, declared one by one).
"""

from .policy import (
    DEFAULT_ALLOWED_MODULES,
    POLICY_NAMES,
    REFUSED_ATTRIBUTES,
    Policy,
    PolicyViolation,
)

__all__ = [
    "DEFAULT_ALLOWED_MODULES",
    "POLICY_NAMES",
    "REFUSED_ATTRIBUTES",
    "Policy",
    "PolicyViolation",
]
