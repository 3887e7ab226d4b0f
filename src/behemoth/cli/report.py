"""``behemoth report SWEEP_OR_RUN``: one self-contained HTML report (plots also as PNG)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="an HTML report of a sweep or a run (tables, plots with intervals)",
        description="Reads DIR/results.parquet (a sweep) or DIR/records.parquet (a run of "
        "`behemoth edit`); writes OUT/report.html and OUT/plots/*.png, and prints a one-screen summary: "
        "each number over the trained models (mean, 95%% interval over models, SD, holds on k "
        "of n models) and every finding whose sign differs between models.",
    )
    p.add_argument("source", metavar="SWEEP_OR_RUN", help="a sweep or run directory")
    p.add_argument("--out", default=None, help="report directory (default: SWEEP_OR_RUN/report)")
    p.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty folder that is not a report (its files are kept)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from behemoth.report import summary_of, write_report
    from behemoth.report.html import check_report_out

    if args.out is not None:
        check_report_out(args.out, args.force)  # before reading anything
    rep = write_report(args.source, args.out, force=args.force)
    print(summary_of(args.source))
    print(f"{rep.runs} runs ({rep.failed} failed), {len(rep.plots)} plots")
    print(f"report: {rep.path}")
    return 0
