"""``behemoth demo``: the end-to-end demo (world -> model -> every editor -> table)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="end to end: the demo world and model, a small study of every editor, a report",
        description="Writes DIR/shared (world, model, statistics; reused when already there "
        "with the same configs) and DIR/study (results.parquet, report/report.html); "
        "rerunning resumes.",
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="the tiny world and model (seconds)")
    p.add_argument("--editors", default=None, help="comma-separated editors (default: all)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.experiments.demo import demo_spec, run_demo
    from behemoth.experiments.sweep.backends import LocalBackend

    editors = [e.strip() for e in args.editors.split(",")] if args.editors else None
    demo_spec(args.quick, editors)  # one-line error on an unknown name, before any work
    hf_logging.disable_progress_bar()
    run_demo(args.out, quick=args.quick, editors=editors, backend=LocalBackend(args.workers))
    return 0
