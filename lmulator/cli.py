"""``python -m lmulator run FILE.py``: run a program, emulating what is missing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .config import MODES, from_env
from .errors import ConfigError
from .errors_display import format_user_error
from .executor import Session
from .isolation import IsolatedSession, IsolationError
from .progress import ProgressLine
from .replay import replay_path_for
from .trace import listing


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m lmulator",
        description="Run Python statement by statement; an LM emulates what cannot run.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a Python file")
    run.add_argument("file", help="the program to run")
    run.add_argument("--mode", choices=MODES, help="how to mix Python and the LM")
    run.add_argument("--policy", choices=("restricted", "trusted"), default="restricted")
    run.add_argument(
        "--raise-errors", action="store_true", help="raise genuine errors instead of emulating"
    )
    run.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    run.add_argument("--model", help="model name (default: $LMULATOR_MODEL)")
    run.add_argument("--trace-json", metavar="OUT", help="write the trace records to OUT")
    run.add_argument("--trace", choices=("default", "full"), default=None, help="trace level")
    run.add_argument("--no-listing", action="store_true", help="do not print the marked listing")
    rec = run.add_mutually_exclusive_group()
    rec.add_argument(
        "--record", action="store_true", help="store every LM exchange in a replay file"
    )
    rec.add_argument("--replay", action="store_true", help="answer only from the replay file")
    run.add_argument("--replay-file", help="replay file (default: FILE.lmreplay.jsonl beside FILE)")
    run.add_argument("--no-cache", action="store_true", help="do not use the on-disk reply cache")
    run.add_argument(
        "--timeout", type=float, default=None, help="wall-clock limit for the program (s)"
    )
    run.add_argument(
        "--memory-mb",
        type=int,
        default=None,
        help="memory the program may add, in MB (default: half the RAM; 0: no limit)",
    )
    run.add_argument(
        "--isolate",
        action="store_true",
        help="run the program in a child process under rlimits (no key, no file writes)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = from_env().with_(
            mode=args.mode,
            base_url=args.base_url,
            model=args.model,
            raise_errors=args.raise_errors or None,
            trace_level=args.trace,
            cache="off" if args.no_cache else None,
            cell_timeout=args.timeout,
            memory_mb=args.memory_mb,
            record="record" if args.record else "replay" if args.replay else None,
            record_path=args.replay_file or str(replay_path_for(args.file)),
        )
    except ConfigError as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8") as fh:
            source = fh.read()
    except OSError as exc:
        print(f"lmulator: error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    session: Session | IsolatedSession
    try:
        if args.isolate:
            session = IsolatedSession(config, policy=args.policy)
        else:
            session = Session(config, policy=args.policy)
    except (ConfigError, IsolationError) as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(session, Session):
        ProgressLine().attach(session.emulator)
    try:
        result = session.run(source, name=args.file)
    except KeyboardInterrupt:
        print("lmulator: interrupted", file=sys.stderr)
        return 130
    sys.stdout.flush()
    if not args.no_listing and result.trace:
        print("\n── emulated lines " + "─" * 40)
        print(listing(source, result.trace))
    if result.has_value and result.value is not None:
        print(repr(result.value))
    if args.trace_json:
        with open(args.trace_json, "w", encoding="utf-8") as fh:
            json.dump([r.to_dict() for r in result.trace], fh, indent=1, default=str)
    if result.error is not None:
        print(format_user_error(result.error), file=sys.stderr, end="")
        return 1
    return 0
