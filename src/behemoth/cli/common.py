"""Arguments shared by stages: preset / config / --set / --seed / --out / --force."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_config_args(p: argparse.ArgumentParser, what: str) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help=f"a named {what} preset")
    src.add_argument("--config", help=f"a YAML file of {what} settings")
    add_set_arg(p)
    p.add_argument("--seed", type=int, default=None, help="the root seed (overrides the config's)")


def add_out_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, help="output directory (must be new or empty)")
    p.add_argument("--force", action="store_true", help="replace what --out already holds")


def add_set_arg(
    p: argparse.ArgumentParser,
    help: str = "override one setting (repeatable; values parsed as YAML)",
    flag: str = "--set",
    dest: str = "overrides",
) -> None:
    """``--set KEY=VALUE`` (repeatable), collected as a list of strings in ``dest``."""
    p.add_argument(flag, dest=dest, action="append", default=[], metavar="KEY=VALUE", help=help)


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``lo`` (the error names the bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {lo}")
        return value

    parse.__name__ = f"integer >= {lo}"
    return parse
