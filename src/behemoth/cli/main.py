"""Entry point: builds the parser from the stage modules and turns errors into one line.

A stage module exposes ``register(subparsers)``, which adds its subcommand and sets
``func(args) -> int`` as the handler. Add a stage by adding its module to ``STAGES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from behemoth.errors import BehemothError

STAGES = ("generate", "reference", "train", "evaluate", "edit", "demo", "train_serac")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        self.exit(2, f"behemoth: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="behemoth",
        description="Knowledge editing and unlearning in a world where everything is known.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for stage in STAGES:
        try:
            mod = importlib.import_module(f"behemoth.cli.{stage}")
        except ModuleNotFoundError as e:
            if e.name == f"behemoth.cli.{stage}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except BehemothError as e:
        print(f"behemoth: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("behemoth: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
