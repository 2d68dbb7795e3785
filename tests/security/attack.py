"""Run an attack against a fresh engine and check that it failed and the engine still works."""

from __future__ import annotations

import builtins
import sys
import types

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.errors import Refusal

#: The policy's own refusal of a module's undeclared name (a read-only snapshot's AttributeError).
SNAPSHOT_REFUSAL = "under the restricted policy"


def refused_by_policy(error: BaseException | None) -> bool:
    """Whether ``error`` is a refusal the policy raised, with its reason: a compile-time
    PolicyViolation, a run-time PolicyError, ImportRefused or WriteRefused (every one a
    ``Refusal``), or a module snapshot's AttributeError naming the restricted policy. A plain
    AttributeError, NameError or ImportError (a payload that failed for its own reasons) is not."""
    if isinstance(error, Refusal):
        return bool(str(error))
    if isinstance(error, NameError) and not isinstance(error, UnboundLocalError):
        return withheld_builtin(error)
    return isinstance(error, AttributeError) and SNAPSHOT_REFUSAL in str(error)


def gap_from_policy(masked: str) -> bool:
    """Whether an error interweave mode handed to the LM as a gap is one the policy made: a name
    it does not give, or a module snapshot's undeclared name (never a refusal, never an error of
    the payload's own)."""
    if not masked:
        return True  # a name defined nowhere: emulated, with no error behind it
    if masked.startswith("AttributeError"):
        return SNAPSHOT_REFUSAL in masked
    if masked.startswith("NameError"):
        name = masked.split("'")[1] if masked.count("'") >= 2 else ""
        return hasattr(builtins, name)
    return False


def refusal_names() -> frozenset[str]:
    """The class names of every refusal the policy raises (as a kernel's error reply names them)."""
    import lmulator.policy.policy  # noqa: F401 - defines the refusals
    import lmulator.policy.writes  # noqa: F401

    names, todo = set(), [Refusal]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(names - {"Refusal"})


def kernel_refusal(error: dict[str, object]) -> bool:
    """Whether a kernel's error reply is the policy's refusal, with its reason (as
    ``refused_by_policy`` for an exception)."""
    ename, evalue = str(error.get("ename")), str(error.get("evalue"))
    if ename in refusal_names():
        return bool(evalue)
    if ename == "AttributeError":
        return SNAPSHOT_REFUSAL in evalue
    if ename == "NameError" and evalue.count("'") >= 2:
        return hasattr(builtins, evalue.split("'")[1])
    return False


def withheld_builtin(error: NameError) -> bool:
    """Whether a NameError names a builtin of Python's that the policy does not give (``open``,
    ``breakpoint``): the policy's refusal by omission, not a payload's misspelt name."""
    name = getattr(error, "name", None)
    return isinstance(name, str) and hasattr(builtins, name) and f"name {name!r}" in str(error)


#: The modes an attack is tried in: plain execution, and the emulating mode (a refusal must
#: not be handed to the LM as a gap to fill).
MODES = ("python", "interweave")


def leaked(namespace: dict[str, object]) -> list[str]:
    """Names bound to objects a program must never hold: frames, code, real modules."""
    real_modules = {id(m) for m in sys.modules.values()}
    bad = (types.FrameType, types.CodeType, types.TracebackType)
    return [
        name
        for name, value in namespace.items()
        if not name.startswith("_") and (isinstance(value, bad) or id(value) in real_modules)
    ]


def attack(source: str, *, modes: tuple[str, ...] = MODES) -> list[BaseException]:
    """Run ``source`` in each mode; assert the policy refused it (see ``refused_by_policy``) and
    the session goes on."""
    errors = []
    for mode in modes:
        session = Session(Config(mode=mode, lm="off", cache="off"))
        assert session.run("kept = [1, 2, 3]").error is None
        result = session.run(source)
        if result.error is None:
            # Interweave mode hands a missing attribute or name to the LM (off here, so the
            # step is skipped); a refusal by the policy is never handed over.
            # A name that is not defined at all becomes an emulated value (masked error empty).
            masked = [r.masked_error or "" for r in result.emulated]
            assert mode != "python" and masked, f"[{mode}] {source!r} ran: {result!r}"
            assert all(gap_from_policy(m) for m in masked), f"[{mode}] {source!r}: {masked}"
        else:
            assert refused_by_policy(result.error), (
                f"[{mode}] {source!r} not refused by the policy: {result.error!r}"
            )
        assert not leaked(session.namespace), (
            f"[{mode}] {source!r} leaked {leaked(session.namespace)}"
        )
        after = session.run("sum(kept) + len('ok')")
        assert after.error is None and after.value == 8, f"[{mode}] engine broken after {source!r}"
        errors.append(result.error)
    return errors
