"""Command line: `python -m ials train | sweep | worker | data`.

Each subcommand lives in its own module under `ials.commands` and provides
``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

#: Subcommand name -> module implementing it.
COMMANDS = {
    "train": "ials.commands.train",
    "sweep": "ials.commands.sweep",
    "worker": "ials.commands.worker",
    "data": "ials.commands.data",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ials",
        description="Train and tune iALS matrix factorization as in Rendle, Krichene, "
                    "Zhang and Koren, RecSys 2022.",
    )
    parser.add_argument(
        "--log-level", default="WARNING",
        help="logging level on stderr: DEBUG, INFO, WARNING or ERROR (default WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        parser.error(f"invalid --log-level {args.log_level!r}; use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
