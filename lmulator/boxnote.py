"""What the sandbox allows, as one line added to an error the box caused.

A host (the CLI's runner, the kernel) gives its session ``world_note`` built here; the engine
adds the note to a cell's error and knows nothing of the sandbox itself.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from collections.abc import Callable

from .sandbox.confine import Confinement
from .sandbox.runner import current_confinement

#: Errors by which Landlock and seccomp refuse a call.
REFUSED_ERRNOS = (errno.EACCES, errno.EPERM)


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root.rstrip("/") + "/") for root in roots)


def _writable_places(confinement: Confinement) -> str:
    """The writable directories, the box's own temporary one named as such."""
    tmp = os.path.realpath(tempfile.gettempdir())
    places = [w for w in confinement.writable if os.path.realpath(w) != tmp]
    if len(places) < len(confinement.writable):
        places.append("a temporary directory")
    return ", ".join(places) or "nothing"


def box_note(
    confinement: Confinement | None, exc: BaseException, who: str, more: str
) -> str | None:
    """The line for an error the box caused (a refused path, or no network), or None: ``who``
    is what runs in the box ("cells", "the program"), ``more`` where to read further."""
    if confinement is None or not confinement.confined:
        return None
    if isinstance(exc, PermissionError) and exc.errno in REFUSED_ERRNOS:
        if exc.filename is None:  # a socket or a process: seccomp refused the call
            return f"the sandbox gives {who} no network and no other programs; {more}"
        if _inside(str(exc.filename), confinement.writable):
            return None  # writable in the box: the file's own permissions refused it
        return (
            f"the sandbox refused this path: it lets {who} read the Python installation, "
            f"system libraries and the workspace, and write only {_writable_places(confinement)}"
            f"; {more}"
        )
    if isinstance(exc, (socket.gaierror, socket.herror)):
        return f"the sandbox gives {who} no network (no name lookups, no connections); {more}"
    return None


def note_for_this_box(who: str, more: str) -> Callable[[BaseException], str | None]:
    """A session's ``world_note`` for the box this process runs in (read when an error comes)."""
    return lambda exc: box_note(current_confinement(), exc, who, more)
