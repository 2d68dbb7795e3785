"""Run Python in a fresh process (confinement cannot be undone), optionally with no Landlock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NO_LANDLOCK = Path(__file__).with_name("no_landlock.py")


def run_python(
    code: str,
    *,
    no_landlock: bool = False,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter; with ``no_landlock`` the kernel answers ENOSYS to
    Landlock's system calls, as on a system without it."""
    prefix = [sys.executable, str(NO_LANDLOCK)] if no_landlock else [sys.executable]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*prefix, "-c", code], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60
    )


def probe(code: str, **kwargs: object) -> dict[str, object]:
    """Run ``code``, which prints one JSON object as its last line; return that object."""
    proc = run_python(code, **kwargs)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
