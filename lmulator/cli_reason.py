"""``python -m lmulator reason "QUESTION"``: Chain of Code from the command line — the LM's
program printed as it is written, then run, then its answer and what the LM cost."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import TextIO

from .engine.errors_display import format_user_error
from .engine.masking import masked_summary, value_note
from .engine.session import Session
from .engine.trace import listing
from .errors import ConfigError, EmulationError
from .exemplars import example_tasks, load_examples, program_so_far
from .lm.progress import ProgressLine
from .reason import reason
from .usage import metering


def add_reason_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """The ``reason`` subcommand's arguments."""
    cmd = sub.add_parser("reason", help="answer a question with a program the LM writes")
    cmd.add_argument("question", help="the question, in plain words ('-': read it from stdin)")
    cmd.add_argument(
        "--examples",
        metavar="TASK|FILE",
        help="exemplars: a shipped task's or a file's (default: the shipped ones most like it)",
    )
    cmd.add_argument("--policy", choices=("restricted", "trusted"), default="restricted")
    cmd.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    cmd.add_argument("--model", help="model name (default: $LMULATOR_MODEL)")
    cmd.add_argument("--no-cache", action="store_true", help="do not use the on-disk reply cache")
    cmd.add_argument(
        "--timeout", type=float, default=None, help="wall-clock limit for the program (s)"
    )
    add_budget_arguments(cmd)
    cmd.add_argument(
        "--sandbox",
        metavar="MODE",
        help="read-only (default: the program may read, not write, the current directory), "
        "workspace, off, or required",
    )
    return cmd


def add_budget_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--max-calls`` and ``--max-tokens``."""
    cmd.add_argument(
        "--max-calls",
        type=int,
        default=None,
        metavar="N",
        help="LM calls the run may send (default: $LMULATOR_MAX_CALLS, or no bound)",
    )
    cmd.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="LM tokens, prompt and completion, the run may spend (default: "
        "$LMULATOR_MAX_TOKENS, or no bound)",
    )


def read_question(args: argparse.Namespace) -> str:
    """The question the command was given; ConfigError if it is empty."""
    question = sys.stdin.read() if args.question == "-" else args.question
    if not question.strip():
        raise ConfigError("the question is empty")
    return question.strip()


class ProgramPrinter:
    """Prints a program's lines as the LM writes them (a new program, written again after
    feedback, under a rule of its own)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.printed = ""  # of the program being written
        self.programs = 0

    def __call__(self, text: str) -> None:
        """Print the complete lines of ``text`` (the reply so far) not printed yet; an empty
        text starts a new program."""
        if not text or not self.programs:
            self.programs += 1
            title = "program" if self.programs == 1 else "program, written again"
            self.out.write(f"── {title} " + "─" * 40 + "\n")
            self.printed = ""
            if not text:
                return
        body = program_so_far(text)
        upto = body.rfind("\n") + 1
        if upto > len(self.printed):
            self.out.write(body[len(self.printed) : upto])
            self.out.flush()
            self.printed = body[:upto]

    def finish(self, program: str) -> None:
        """Print what is left of the final program (a last line without its newline)."""
        if program.startswith(self.printed) and len(program) > len(self.printed):
            rest = program[len(self.printed) :]
            self.out.write(rest if rest.endswith("\n") else rest + "\n")
            self.printed = program


def run_reason(args: argparse.Namespace, session: Session) -> int:
    """Answer the question in ``session``; print the program, the answer and the cost."""
    try:
        question = read_question(args)
        examples = None
        if args.examples:
            if args.examples not in example_tasks() and not os.path.isfile(args.examples):
                raise ConfigError(f"--examples: no shipped task or file {args.examples!r}")
            examples = load_examples(args.examples)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"lmulator: error: {exc}", file=sys.stderr)
        return 2
    ProgressLine().attach(session.emulator)
    printer = ProgramPrinter(sys.stdout)
    with metering(session.config.budget()) as meter:
        try:
            result = reason(question, session, examples, on_text=printer)
        except KeyboardInterrupt:
            print("\nlmulator: stopped while the LM was writing; nothing ran", file=sys.stderr)
            return 130
        except EmulationError as exc:
            print(f"lmulator: error: {exc}", file=sys.stderr)
            print(meter.spent.describe(), file=sys.stderr)
            return 1
    printer.finish(result.program)
    run = result.run
    if any(r.status == "emulated" for r in run.trace):
        print("── emulated lines " + "─" * 40)
        print(listing(result.program, run.trace, shutil.get_terminal_size((120, 24)).columns))
    hints = ("LMULATOR_RAISE_ERRORS=on to stop there", "without LMULATOR_EMULATE_IO it raises")
    for line in masked_summary(run.masked, *hints):
        print(line, file=sys.stderr)
    if run.error is not None:
        print(format_user_error(run.error), file=sys.stderr, end="")
    else:
        origin = run.value_origin
        print(f"answer: {result.answer!r}" + (f"    {value_note(origin)}" if origin else ""))
    print(meter.spent.describe(), file=sys.stderr)
    return 0 if run.error is None else 1
