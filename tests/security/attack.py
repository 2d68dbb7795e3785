"""Run an attack against a fresh engine and check that it failed and the engine still works."""

from __future__ import annotations

import sys
import types

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.policy.policy import PolicyViolation
from lmulator.policy.refusals import ImportRefused, PolicyError

#: What a refused attack may end in: a compile-time or run-time refusal, or the plain Python
#: error a missing capability gives (no such attribute, no such builtin, no such module).
REFUSALS = (PolicyViolation, PolicyError, ImportRefused, ImportError, AttributeError, NameError)

#: Errors interweave mode may treat as gaps for the LM (a capability that is not there).
GAPS = ("AttributeError", "NameError", "ModuleNotFoundError")

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
    """Run ``source`` in each mode; assert it was refused and the session goes on."""
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
            assert all(not m or m.startswith(GAPS) for m in masked), (
                f"[{mode}] {source!r}: {masked}"
            )
        else:
            assert isinstance(result.error, REFUSALS), (
                f"[{mode}] {source!r} not refused: {result!r}"
            )
        assert not leaked(session.namespace), (
            f"[{mode}] {source!r} leaked {leaked(session.namespace)}"
        )
        after = session.run("sum(kept) + len('ok')")
        assert after.error is None and after.value == 8, f"[{mode}] engine broken after {source!r}"
        errors.append(result.error)
    return errors
