"""Failures that come from outside the program: the world is not emulated.

A file, a socket, a URL or a process that fails (or that the sandbox or the policy refuses)
raises as it would in Python; the LM is asked to invent its result only when the configuration
says so (``Config.emulate_io``), and such a result is marked apart (``how="invented"``).

The rule: an exception is the world's when it, or any exception in its ``__cause__`` /
``__context__`` chain, is an ``OSError`` (files, sockets, ``urllib``'s ``URLError``,
``TimeoutError``, ``ConnectionError``, the box's ``PermissionError``), or is defined by one of
the HTTP and process libraries in :data:`WORLD_LIBRARIES` (their connection errors are not all
``OSError``s), or is the ``NameError`` of a builtin that reaches the world (``open``) under a
policy that withholds it. A missing module or an undefined name is not the world: partial code
keeps its stand-ins for those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

#: The note an invented value carries (marks, trace, summaries).
INVENTED_NOTE = "invented: the operation did not run"

#: Builtins that reach outside the program; a policy that withholds one refuses the world.
WORLD_BUILTINS = frozenset({"open"})

#: Libraries whose exceptions report that the world failed (connections, HTTP, processes).
WORLD_LIBRARIES = ("http.client", "urllib3", "requests", "httpx", "httpcore", "subprocess")

#: How far an exception's cause/context chain is followed.
MAX_CHAIN = 32

#: A host's one-line note for a failure from outside the program (what its sandbox allows), or
#: None when it has nothing to add.
WorldNote = Callable[[BaseException], str | None]


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions of its ``__cause__``/``__context__`` chain, each once (a
    context that ``raise ... from`` suppressed is not followed)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack and len(seen) < MAX_CHAIN:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if not current.__suppress_context__:  # ``raise ... from None`` disowns the context
            stack.append(current.__context__)
        stack.append(current.__cause__)


def _from_world_library(cls: type) -> bool:
    for klass in cls.__mro__:
        module = getattr(klass, "__module__", None)
        if isinstance(module, str) and any(
            module == lib or module.startswith(lib + ".") for lib in WORLD_LIBRARIES
        ):
            return True
    return False


def withheld_world_builtin(exc: BaseException) -> str | None:
    """The world-reaching builtin a ``NameError`` names (``open`` under the restricted
    policy), or None."""
    name = getattr(exc, "name", None) if isinstance(exc, NameError) else None
    return name if name in WORLD_BUILTINS else None


def is_world_error(exc: BaseException) -> bool:
    """Whether a failure came from outside the program (see the module's rule)."""
    return any(
        isinstance(e, OSError) or _from_world_library(type(e)) or withheld_world_builtin(e)
        for e in exception_chain(exc)
    )


def policy_note(exc: BaseException) -> str | None:
    """The note for a world-reaching builtin that the policy withholds, or None."""
    name = withheld_world_builtin(exc)
    if name is None:
        return None
    return (
        f"the restricted policy gives programs no {name}(): they reach no files "
        "(the trusted policy does, within the sandbox)"
    )


def annotate(exc: BaseException | None, host_note: WorldNote | None) -> None:
    """Add one note to a cell's world error: what the policy or the host's box allows."""
    if exc is None or not is_world_error(exc):
        return
    note = policy_note(exc)
    if note is None and host_note is not None:
        note = next((n for e in exception_chain(exc) if (n := host_note(e))), None)
    if note and note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def refuse_world_builtin(name: str) -> NameError:
    """The ``NameError`` Python raises for a world-reaching builtin the policy withholds."""
    return NameError(f"name {name!r} is not defined", name=name)
