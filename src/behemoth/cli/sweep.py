"""``behemoth sweep SPEC --out DIR``: run a study (a sweep spec or a shipped preset), resumably.

``--backend local`` (default) runs on a pool of processes on this machine; ``--backend ray``
on a Ray cluster (``--address`` joins one, else a local instance is started). Finished runs in
DIR are skipped, so the same command resumes an interrupted sweep.
"""

from __future__ import annotations

import argparse

from behemoth.tracking import add_log_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a sweep: worlds x models x scenarios x editors x grids x seeds",
        description="SPEC: a YAML sweep spec or a preset (behemoth-paper, sequential, "
        "unlearning). Writes DIR/results.parquet (one row per run, metric, split and "
        "checkpoint) and DIR/runs/; rerun the same command to resume.",
    )
    p.add_argument("spec", metavar="SPEC", help="a sweep spec (YAML file) or a preset name")
    p.add_argument("--out", required=True, help="sweep directory (created, or resumed)")
    p.add_argument("--scale", default=None, help="a scale of the spec (e.g. paper)")
    p.add_argument("--backend", choices=["local", "ray"], default="local", help="where runs go")
    p.add_argument("--address", default=None, help="ray: address of a running cluster")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local: processes (default: cores, bounded by memory; 0 = this process); "
        "ray: CPUs of a local instance",
    )
    p.add_argument("--shared", default=None, help="where worlds/models are built once")
    p.add_argument("--dry-run", action="store_true", help="list the runs, run nothing")
    p.add_argument("--report", action="store_true", help="write the HTML report at the end")
    add_log_arg(p, "the finished table (one scalar per run, metric and split; labels as hparams)")
    p.add_argument(
        "--new-spec",
        action="store_true",
        help="run this spec in a sweep folder that holds another spec's sweep (its table "
        "replaces the other's; finished runs of both stay in DIR/runs)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run a spec that expands to more runs than the bound (20,000)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from behemoth.errors import BehemothError, ConfigError
    from behemoth.experiments.sweep import expand, load_spec, run_sweep
    from behemoth.experiments.sweep.backends import make_backend
    from behemoth.experiments.sweep.runner import (
        check_run_count,
        check_spec_owner,
        check_sweep_out,
    )
    from behemoth.tracking import from_flag, how_to_view, log_sweep

    out = Path(args.out)
    target = from_flag(args.log, out)  # backend, directory and its package checked now
    if not args.dry_run:
        check_sweep_out(out)  # not a sweep's folder, or a live sweep holds it: refused now
    try:
        spec = load_spec(args.spec, args.scale)
    except ConfigError as e:
        if e.field == "--preset":  # a name that is neither a file nor a shipped study
            raise ConfigError(
                "SPEC", e.problem.replace("sweep preset", "file or sweep preset"), e.fix
            ) from None
        raise
    check_run_count(spec, args.force)  # counted from the axes, before anything is built
    if not args.dry_run:
        check_spec_owner(out, spec, args.new_spec)
        if args.address and args.backend != "ray":
            raise BehemothError("--address: only for --backend ray; add --backend ray")
        if args.backend == "local":
            make_backend("local", args.workers)  # --workers bounded by memory, checked now
    runs = expand(spec)  # every setting checked before anything runs
    if args.dry_run:
        for r in runs:
            print(r.run_id, " | ".join(r.labels.values()))
        print(f"{len(runs)} runs")
        return 0
    res = run_sweep(
        spec,
        args.out,
        backend=make_backend(args.backend, args.workers, args.address),
        shared=args.shared,
        new_spec=args.new_spec,
    )
    print(
        f"{len(runs)} runs: {res.done} done now, {res.skipped} already finished, "
        f"{res.failed} failed, in {res.seconds:.0f} s"
    )
    print(f"table: {res.table} (items: {res.out / 'items.parquet'})")
    if res.table.is_file():
        from behemoth.report.summary import summary_of

        print()
        print(summary_of(args.out))
        if target is not None:
            logged = log_sweep(res.table, target)
            print(
                f"logged {logged.scalars:,} scalars of {logged.runs} runs "
                f"({logged.failed} failed runs left out): {how_to_view(target)}"
            )
    if args.report:
        from behemoth.report import write_report

        print(f"report: {write_report(args.out).path}")
    else:
        print(f"the HTML report with every table and plot: behemoth report {args.out}")
    return 1 if res.failed else 0
