"""How well the embedded model's replies fit: parse and validate on the first try, right type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..engine.session import Session
from ..partial.expect import matches
from .runner import python_files, run_program


def run(
    paths: list[str], limit: int | None, seconds: float = 10.0, out: Callable[[str], None] = print
) -> dict[str, float]:
    """Run programs on the embedded model and report reply validity and type rates."""
    files = python_files(*paths)
    if limit is not None:
        files = files[:limit]
    checked = valid = typed = typed_ok = timeouts = 0
    for path in files:
        session = Session(Config(cache="off"))
        result, timed_out = run_program(
            session, path.read_text(encoding="utf-8", errors="replace"), str(path), seconds
        )
        timeouts += timed_out
        checked += session.emulator.replies_checked
        valid += session.emulator.first_try_valid
        for rec in result.emulated if result else []:
            expect = (rec.request or {}).get("expect")
            if rec.has_value and expect and rec.how == "lm":
                typed += 1
                typed_ok += matches(rec.value, expect)
    share = valid / checked if checked else 1.0
    type_share = typed_ok / typed if typed else 1.0
    out(
        f"files: {len(files)} ({timeouts} hit the {seconds:g} s limit) in {', '.join(Path(p).name for p in paths)}"
    )
    out(
        f"values whose type the context fixes: {typed_ok}/{typed} of the right type ({type_share:.1%})"
    )
    out(f"replies valid on the first try: {valid}/{checked} ({share:.1%})")
    return {"first_try_valid": share, "right_type": type_share}
