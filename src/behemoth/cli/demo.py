"""``behemoth demo``: the end-to-end demo (world -> model -> every editor -> table)."""

from __future__ import annotations

import argparse
from pathlib import Path

from behemoth.errors import BehemothError, OutputExistsError


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
    p.add_argument(
        "--force",
        action="store_true",
        help="use an --out that holds other files (they are kept: the demo writes only "
        "DIR/shared and DIR/study)",
    )
    p.add_argument(
        "--replicates",
        type=int,
        default=1,
        metavar="N",
        help="trained models of the recipe (default 1, to keep the demo near 8 minutes; each "
        "more adds about 7 minutes on two cores); every figure is then stated over them",
    )
    p.set_defaults(func=run)


#: What the demo writes into its folder (anything else there is the user's).
DEMO_ENTRIES = {"shared", "study"}


def check_demo_out(out: Path, force: bool) -> None:
    """``out`` is new, empty or an earlier demo's (only ``shared/`` and ``study/``), else it is
    refused unless ``force``; ``study/`` is a sweep's folder or new in any case."""
    from behemoth.io import check_text_path

    check_text_path("--out", out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise OutputExistsError(f"--out: {out} exists and is not a directory; choose another path")
    other = sorted(p.name for p in out.iterdir() if p.name not in DEMO_ENTRIES)
    if other and not force:
        shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        raise OutputExistsError(
            f"--out: {out} holds files that are not the demo's ({shown}); choose a new or empty "
            "directory, or pass --force to write shared/ and study/ beside them"
        )
    study = out / "study"
    if study.is_dir() and any(study.iterdir()) and not (study / "sweep.json").is_file():
        raise OutputExistsError(
            f"--out: {study} holds files that are not a sweep; choose another --out"
        )


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.experiments.demo import demo_spec, run_demo
    from behemoth.experiments.sweep.backends import LocalBackend
    from behemoth.experiments.sweep.runner import check_spec_owner

    editors = None
    if args.editors is not None:
        editors = [e.strip() for e in args.editors.split(",")]
        if not all(editors):
            raise BehemothError(
                f"--editors: {args.editors!r} names an empty editor; give comma-separated "
                "names (e.g. rome,memit) or leave --editors out for every editor"
            )
    check_demo_out(Path(args.out), args.force)
    spec = demo_spec(args.quick, editors, args.replicates)  # one-line errors, before any work
    study = Path(args.out) / "study"
    try:
        check_spec_owner(study, spec)
    except OutputExistsError:
        raise OutputExistsError(
            f"--out: {study} holds the demo study of other settings (--quick, --editors, "
            "--replicates); rerun with those settings to resume it, or choose another --out"
        ) from None
    hf_logging.disable_progress_bar()
    run_demo(
        args.out,
        quick=args.quick,
        editors=editors,
        backend=LocalBackend(args.workers),
        replicates=args.replicates,
    )
    return 0
