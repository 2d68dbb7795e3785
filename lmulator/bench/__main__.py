"""``python -m lmulator.bench overhead`` and the other benchmarks."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark."""
    parser = argparse.ArgumentParser(prog="python -m lmulator.bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("overhead", help="engine vs plain exec on cells with nothing to emulate")
    p.add_argument("--repeats", type=int, default=7)
    p = sub.add_parser("isolation", help="per-cell cost in a child process vs in-process")
    p.add_argument("--count", type=int, default=50)
    p = sub.add_parser("compat", help="ordinary programs: the same output as CPython?")
    p.add_argument("folder", help="a folder with programs/NNN.py and expected/NNN.out")
    p.add_argument("--seconds", type=float, default=60.0, help="time limit per program")
    p.add_argument("--jobs", type=int, default=2, help="programs run at once")
    p.add_argument("--policy", default="restricted", choices=("restricted", "trusted"))
    p.add_argument("--verbose", action="store_true", help="name the programs that matched too")
    p = sub.add_parser("sandbox", help="the sandbox and its broker vs the unconfined path")
    p.add_argument("--rounds", type=int, default=3)
    p = sub.add_parser("latency", help="embedded model: cold start and per-emulation latency")
    p.add_argument("--count", type=int, default=10)
    p.add_argument(
        "--states",
        metavar="DIR",
        default=None,
        help="instead: CoC on BBH task files in DIR, "
        "one prompt prefix vs several kept prompt states",
    )
    p.add_argument("--tasks", default="sports_understanding,date_understanding")
    p.add_argument("--limit", type=int, default=2, help="examples a task (--states)")
    p = sub.add_parser("prompt-eval", help="embedded model: prompt rows evaluated, all vs last")
    p.add_argument("--tasks", default=None, help="comma-separated BBH tasks whose prompts to use")
    p.add_argument("--rounds", type=int, default=2)
    p = sub.add_parser(
        "prompt-files", help="embedded model: a task's first question, cold vs state files"
    )
    p.add_argument("--tasks", default=None, help="comma-separated BBH tasks whose prompts to use")
    p = sub.add_parser("replies", help="embedded model: first-try validity and type rates")
    p.add_argument("paths", nargs="+", help="files or folders of .py programs")
    p.add_argument("--limit", type=int, default=None, help="at most this many files")
    p.add_argument("--seconds", type=float, default=10.0, help="time limit per file")
    p = sub.add_parser(
        "coverage", help="line coverage of partial code, with missing pieces resolved"
    )
    p.add_argument("paths", nargs="+", help="folders or files of .py snippets")
    p.add_argument(
        "--lm", default="none", help="none, local (the embedded model) or an endpoint URL"
    )
    p.add_argument("--seconds", type=float, default=10.0, help="time limit per file and run")
    p.add_argument("--json", dest="json_out", help="write per-file results here")
    p.add_argument(
        "--raise-errors", action="store_true", help="count files that surface a real TypeError"
    )
    p.add_argument(
        "--emulate-io", action="store_true", help="let the LM invent what files and URLs give"
    )
    p.add_argument("--verbose", action="store_true", help="print each file's figures")
    p = sub.add_parser("bbh", help="BIG-Bench Hard: Chain of Code vs chain of thought vs direct")
    p.add_argument("--data", required=True, help="folder of BBH task files (TASK.json)")
    p.add_argument("--tasks", default="all", help="comma-separated task names (default: all 27)")
    p.add_argument("--limit", type=int, default=None, help="examples per task")
    p.add_argument("--offset", type=int, default=0, help="skip this many examples per task")
    p.add_argument("--method", default="coc", choices=("coc", "cot", "direct", "all"))
    p.add_argument("--jobs", type=int, default=1, help="examples at once (an endpoint's fleet)")
    p.add_argument("--seconds", type=float, default=300.0, help="time limit per CoC example")
    p.add_argument("--base-url", default=None, help="endpoint (default: the embedded model)")
    p.add_argument("--model", default=None)
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument(
        "--journal", default=None, help="append each scored example here; skip those already in it"
    )
    p.add_argument(
        "--retries", type=int, default=1, help="send a failing CoC program back N times (0: never)"
    )
    p.add_argument(
        "--samples", type=int, default=1, help="CoC programs per question, the majority kept"
    )
    p.add_argument("--exemplars", default=None, help="folder of TASK.txt exemplar files to use")
    p = sub.add_parser("cruxeval", help="CRUXEval-O: emulation vs the benchmark's own prompts")
    p.add_argument("--data", required=True, help="JSON lines with code, input, output (and id)")
    p.add_argument("--limit", type=int, default=None, help="at most this many items")
    p.add_argument("--offset", type=int, default=0, help="skip this many items first")
    p.add_argument("--method", default="all", choices=("emulate", "direct", "cot", "all"))
    p.add_argument("--journal", default=None, help="append each answer here; skip those in it")
    p.add_argument("--base-url", default=None, help="endpoint (default: the embedded model)")
    p.add_argument("--model", default=None)
    p.add_argument("--jobs", type=int, default=1, help="items at once (an endpoint's fleet)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds an LM request may take")
    args = parser.parse_args(argv)
    try:
        _dispatch(args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"python -m lmulator.bench {args.bench}: {exc}", file=sys.stderr)
        return 2
    return 0


def _dispatch(args: argparse.Namespace) -> None:
    """Run the benchmark ``args`` names."""
    if args.bench == "overhead":
        from .overhead import run

        run(repeats=args.repeats)
    elif args.bench == "isolation":
        from .isolation import run as run_isolation

        run_isolation(count=args.count)
    elif args.bench == "compat":
        from .compat import run as run_compat

        run_compat(args.folder, args.seconds, args.jobs, args.policy, args.verbose)
    elif args.bench == "sandbox":
        from .sandbox import run as run_sandbox

        run_sandbox(rounds=args.rounds)
    elif args.bench == "latency":
        from .latency import run as run_latency
        from .latency import run_states

        if args.states:
            run_states(args.states, args.tasks.split(","), args.limit)
        else:
            run_latency(count=args.count)
    elif args.bench == "prompt-eval":
        from .prompt_eval import TASKS
        from .prompt_eval import run as run_prompt_eval

        run_prompt_eval(tuple(args.tasks.split(",")) if args.tasks else TASKS, args.rounds)
    elif args.bench == "prompt-files":
        from .prompt_files import TASKS as FILE_TASKS
        from .prompt_files import run as run_prompt_files

        run_prompt_files(tuple(args.tasks.split(",")) if args.tasks else FILE_TASKS)
    elif args.bench == "replies":
        from .replies import run as run_replies

        run_replies(args.paths, args.limit, args.seconds)
    elif args.bench == "bbh":
        from ..reason import example_tasks
        from .bbh import run as run_bbh

        tasks = example_tasks() if args.tasks == "all" else args.tasks.split(",")
        run_bbh(
            args.data,
            tasks,
            args.limit,
            args.method,
            args.base_url,
            args.model,
            args.json_out,
            seconds=args.seconds,
            jobs=args.jobs,
            offset=args.offset,
            journal=args.journal,
            retries=args.retries,
            samples=args.samples,
            exemplars=args.exemplars,
        )
    elif args.bench == "cruxeval":
        from .cruxeval import run as run_cruxeval

        run_cruxeval(
            args.data, args.limit, args.offset, args.method, args.base_url, args.model,
            args.journal, jobs=args.jobs, timeout=args.timeout,
        )  # fmt: skip
    elif args.bench == "coverage":
        from .coverage import run as run_coverage

        run_coverage(
            args.paths, args.lm, args.seconds, args.json_out, args.raise_errors, args.verbose,
            emulate_io=args.emulate_io,
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
