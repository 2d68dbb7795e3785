"""Where the notebook is, and paths as a notebook's user writes them (relative to it)."""

from __future__ import annotations

import os
from pathlib import Path

from lmulator.policy.refusals import PolicyError


def notebook_directory() -> Path:
    """The directory of the notebook this kernel runs, where the client says (JupyterLab and
    Notebook set ``JPY_SESSION_NAME`` to the notebook's path); else the kernel's working
    directory (nbconvert and ``papermill --cwd`` start the kernel in the notebook's directory)."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    if (
        session.endswith(".ipynb")
        and os.path.isabs(session)
        and os.path.isdir(os.path.dirname(session))
    ):
        return Path(os.path.dirname(session)).resolve()
    return Path.cwd().resolve()


def resolve_in_notebook_dir(text: str) -> str:
    """A path as the user wrote it in a notebook: relative to the notebook's directory."""
    return str((notebook_directory() / os.path.expanduser(text)).resolve())


def path_in_notebook_dir(text: str, what: str) -> str:
    """``text`` as a path inside the notebook's directory; anything else is refused."""
    base = notebook_directory()
    path = Path(resolve_in_notebook_dir(text))
    if path != base and base not in path.parents:
        raise PolicyError(
            f"{what}: {text!r} is outside the notebook's directory ({base}); "
            "%policy trusted lifts this"
        )
    return str(path)
