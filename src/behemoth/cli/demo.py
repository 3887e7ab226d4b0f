"""``behemoth demo``: the end-to-end demo (world -> model -> every editor -> table)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="end to end: generate the demo world, train the demo model, run every editor",
        description="Writes DIR/world, DIR/model and DIR/results; reuses the world and the model "
        "when DIR already holds them with the same configs.",
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="the tiny world and model (seconds)")
    p.add_argument("--editors", default=None, help="comma-separated editors (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.editors import editor_class
    from behemoth.experiments.demo import run_demo

    editors = [e.strip() for e in args.editors.split(",")] if args.editors else None
    for e in editors or []:
        editor_class(e)  # one-line error on an unknown name, before any work
    hf_logging.disable_progress_bar()
    run_demo(args.out, quick=args.quick, editors=editors)
    return 0
