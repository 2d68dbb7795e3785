"""``python -m cockernel.bench overhead`` and ``python -m cockernel.bench sandbox``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run one kernel benchmark."""
    parser = argparse.ArgumentParser(prog="python -m cockernel.bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("overhead", help="coc kernel vs the stock python3 kernel")
    p.add_argument("--repeats", type=int, default=7)
    p = sub.add_parser("sandbox", help="coc kernel confined vs unconfined")
    p.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.bench == "sandbox":
        from .sandbox import run as run_sandbox

        run_sandbox(repeats=args.repeats)
        return 0
    from .overhead import run

    run(repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
