"""``python -m lmulator run FILE.py``: run a program, emulating what is missing."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from collections.abc import Sequence

from .boxnote import note_for_this_box
from .cli_reason import add_budget_arguments, add_reason_parser, run_reason
from .config import MODES, Config, from_env
from .engine.errors_display import format_user_error
from .engine.masking import masked_summary, value_note
from .engine.session import Session
from .engine.trace import TraceRecord, listing
from .errors import ConfigError, EmulationError
from .exemplars import example_tasks
from .isolation.session import IsolatedSession, IsolationError, fork_worker_zygote
from .lm.progress import ProgressLine
from .lm.replay import replay_path_for
from .sandbox import SandboxError, SandboxSpec, parse_sandbox, sandbox_from_env
from .sandbox.broker import FDS_ENV, Broker
from .sandbox.importpath import python_command
from .sandbox.runner import broker_settings, cell_started, enter_sandbox


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
    run.add_argument(
        "--emulate-io",
        action="store_true",
        help="let the LM invent what files, URLs and processes would have given (marked ?)",
    )
    run.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    run.add_argument("--model", help="model name (default: $LMULATOR_MODEL)")
    run.add_argument("--trace-json", metavar="OUT", help="write the trace records to OUT")
    run.add_argument(
        "--trace",
        choices=("default", "full"),
        default=None,
        help="what --trace-json records: full adds every statement that ran, with its bindings "
        "(the terminal output is the same)",
    )
    run.add_argument("--no-listing", action="store_true", help="do not print the marked listing")
    rec = run.add_mutually_exclusive_group()
    rec.add_argument(
        "--record", action="store_true", help="store every LM exchange in a replay file"
    )
    rec.add_argument("--replay", action="store_true", help="answer only from the replay file")
    run.add_argument("--replay-file", help="replay file (default: FILE.lmreplay.jsonl beside FILE)")
    run.add_argument("--no-cache", action="store_true", help="do not use the on-disk reply cache")
    run.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="P",
        help="an LM answer less sure than P (0 to 1) fails its statement "
        "(default: $LMULATOR_MIN_CONFIDENCE or 0)",
    )
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
    run.add_argument(
        "--sandbox",
        metavar="MODE",
        help="workspace (default: write only the program's directory), read-only, off, or "
        "required (refuse to run unconfined); default: $LMULATOR_SANDBOX",
    )
    add_budget_arguments(run)
    add_reason_parser(sub)
    prime = sub.add_parser(
        "prime",
        help="evaluate the embedded model's prompt prefixes once (the emulator's and each "
        "task's exemplars) and keep them on disk, so first questions start warm",
    )
    prime.add_argument("--tasks", help="comma-separated shipped tasks (default: all)")
    return parser


def lm_had_a_hand(trace: Sequence[TraceRecord]) -> bool:
    """Whether the LM supplied anything in a run, or was asked and failed (a listing of the
    program says nothing otherwise: a Python error or a refusal has its own traceback)."""
    return any(r.status == "emulated" or (r.status == "error" and r.how != "python") for r in trace)


def sandbox_for(args: argparse.Namespace, config_record_path: str | None) -> SandboxSpec:
    """The sandbox for a run: the program's directory is the workspace; the trace and replay
    files named on the command line may be written wherever they are."""
    spec = sandbox_from_env()
    if args.sandbox:
        spec = parse_sandbox(args.sandbox, spec)
    write = list(spec.write)
    for named in (args.trace_json, config_record_path if (args.record or args.replay) else None):
        if named:
            write.append(os.path.dirname(os.path.abspath(named)))
    return spec.with_(workspace=os.path.dirname(os.path.abspath(args.file)), write=tuple(write))


def reason_sandbox(args: argparse.Namespace) -> SandboxSpec:
    """The sandbox for ``reason``: the current directory, read-only unless said otherwise."""
    spec = sandbox_from_env()
    if args.sandbox:
        spec = parse_sandbox(args.sandbox, spec)
    elif not os.environ.get("LMULATOR_SANDBOX"):
        spec = spec.with_(mode="read-only")
    return spec.with_(workspace=os.getcwd())


def run_brokered(argv: Sequence[str], config: object, spec: SandboxSpec, args: object) -> int:
    """Be the broker: run this command again as a confined runner and answer its LM requests."""
    try:
        broker = Broker(config, spec, one_cell=True)  # type: ignore[arg-type]
    except ConfigError as exc:  # a malformed list of allowed endpoints or models
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    try:  # -P: nothing from the working directory is imported before the runner is confined
        broker.start(python_command("lmulator", argv))
    except SandboxError as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    broker.forward_signals(signal.SIGINT, signal.SIGTERM)
    # Under --isolate the isolated session ends an overdue cell itself (and says so) within
    # its 2 s grace; the broker steps in only if that fails.
    code = broker.wait(grace_s=5.0 if getattr(args, "isolate", False) else 2.0)
    if broker.killed_because:
        print(f"lmulator: the program {broker.killed_because} and was killed", file=sys.stderr)
        return 130 if "interrupt" in broker.killed_because else 1
    return code


def prime_embedded_model() -> None:
    """Run one emulation on the embedded model so that its prompt state is saved on disk."""
    result = Session(Config(cache="off", base_url=None)).run("get_country('Paris')")
    if result.error is not None:
        raise EmulationError(f"the embedded model did not answer: {result.error}")


def prime_main(args: argparse.Namespace) -> int:
    """``prime``: the emulator's prompt, then each task's exemplars, evaluated and kept."""
    from .lm.local.model import local_client, prompt_cache_dir, server_stats
    from .prime import Primed, prime_tasks

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    unknown = sorted(set(tasks or ()) - set(example_tasks()))
    if unknown:
        print(
            f"lmulator: error: no shipped exemplars for {', '.join(unknown)} "
            f"(the tasks: {', '.join(example_tasks())})",
            file=sys.stderr,
        )
        return 2

    def say(primed: Primed) -> None:
        print(
            f"primed {primed.task}: {primed.evaluated} prompt tokens evaluated, "
            f"{primed.written} state files written, {primed.seconds:.1f} s",
            flush=True,
        )

    try:
        prime_embedded_model()
        print("primed the emulator's prompt", flush=True)
        prime_tasks(local_client(timeout=600.0), tasks, server_stats, say)
    except (ValueError, EmulationError, ConfigError) as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    print(f"prompt states in {prompt_cache_dir()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command == "prime":
        return prime_main(args)
    in_runner = FDS_ENV in os.environ
    if in_runner:
        try:
            isolate = getattr(args, "isolate", False)
            enter_sandbox(workers=fork_worker_zygote if isolate else None)
        except (ConfigError, SandboxError) as exc:
            print(f"lmulator: error: {exc}", file=sys.stderr)
            return 2
    try:
        config = (
            from_env()
            .with_(**(broker_settings() if in_runner else {}))
            .with_(
                base_url=args.base_url,
                model=args.model,
                cache="off" if args.no_cache else None,
                cell_timeout=args.timeout,
                max_calls=args.max_calls,
                max_tokens=args.max_tokens,
            )
        )
        if args.command == "reason":
            return reason_main(args, argv, config, in_runner)
        config = config.with_(
            mode=args.mode,
            raise_errors=args.raise_errors or None,
            emulate_io=args.emulate_io or None,
            trace_level=args.trace,
            min_confidence=args.min_confidence,
            memory_mb=args.memory_mb,
            record="record" if args.record else "replay" if args.replay else None,
            record_path=args.replay_file or str(replay_path_for(args.file)),
        )
    except ConfigError as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    if not in_runner:
        try:
            spec = sandbox_for(args, config.record_path)
        except ConfigError as exc:
            print(f"lmulator: error: {exc}", file=sys.stderr)
            return 2
        if spec.enabled:
            if not os.path.isfile(args.file):
                print(f"lmulator: error: cannot read {args.file}: no such file", file=sys.stderr)
                return 2
            return run_brokered(argv, config, spec, args)
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
        session.world_note = note_for_this_box(
            "the program", "--sandbox or LMULATOR_SANDBOX sets what it allows"
        )
        session.namespace["__file__"] = args.file  # as Python sets it for a script
    else:
        session.run(f"__file__ = {args.file!r}", name="<script-path>")
    if in_runner:
        cell_started(config.cell_timeout)  # the broker ends a program that outruns its limit
    try:
        result = session.run(source, name=args.file)
    except KeyboardInterrupt as exc:  # the program's own frames, as Python shows them
        print(format_user_error(exc), file=sys.stderr, end="")
        return 130
    sys.stdout.flush()
    if not args.no_listing and lm_had_a_hand(result.trace):
        print("\n── emulated lines " + "─" * 40)
        print(listing(source, result.trace, shutil.get_terminal_size((120, 24)).columns))
    if result.has_value and result.value is not None:
        origin = result.value_origin
        print(repr(result.value) + (f"    {value_note(origin)}" if origin else ""))
    sys.stdout.flush()
    for line in masked_summary(
        result.masked, "--raise-errors to stop there", "without --emulate-io it raises"
    ):
        print(line, file=sys.stderr)
    if args.trace_json:
        with open(args.trace_json, "w", encoding="utf-8") as fh:
            json.dump([r.to_dict() for r in result.trace], fh, indent=1, default=str)
    if isinstance(result.error, SystemExit):  # as Python does: the code, or the message and 1
        code = result.error.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    if result.error is not None:
        print(format_user_error(result.error), file=sys.stderr, end="")
        return 1
    return 0


def reason_main(
    args: argparse.Namespace, argv: Sequence[str], config: Config, in_runner: bool
) -> int:
    """``reason``: confined as ``run`` is (the broker answers the LM requests), then answer."""
    if not in_runner:
        spec = reason_sandbox(args)
        if spec.enabled:
            return run_brokered(argv, config, spec, args)
    try:
        session = Session(config, policy=args.policy)
    except ConfigError as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    session.world_note = note_for_this_box("the program", "--sandbox sets what it allows")
    if in_runner:
        cell_started(config.cell_timeout)
    return run_reason(args, session)
