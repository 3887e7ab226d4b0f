"""Benchmark: what a study with trained replicates costs, split into training and editing.

    .venv/bin/python bench/bench_study.py SWEEP_DIR [--shared DIR] [--wall SECONDS]
    .venv/bin/python bench/bench_study.py --run SPEC --out DIR [--scale S] [--workers N]

Replicates train as separate processes, one per worker (``torch.set_num_threads(1)`` in each),
scheduled before the runs that need them (the runner starts the first run of every model
first; a run waits on its model's lock). Training several models at once in one process does
not pay on these CPUs (issue 20, point 7: five demo-shaped models vectorized over a replicate
dimension cost 5.4-7.2x one model's step), so the cost of a study is the sum of its trainings
and its runs, divided over the cores. This prints, from one sweep on one machine:

- per trained model: its training wall time (``provenance.json``), tokens and steps to the target;
- per run: the phase times the sweep records (``timings.parquet``: ``prepare_s`` statistics,
  ``reference_s``, ``edit_s``, ``eval_s``, ``load_s``, ``oracle_s``), summed;
- the study's wall time (measured here with ``--run``, or given with ``--wall``), the load
  average while it ran, and the share of the summed worker time spent training.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pyarrow.parquet as pq

PHASES = ("load_s", "prepare_s", "reference_s", "edit_s", "eval_s", "oracle_s")


def training(shared: Path) -> list[dict[str, float]]:
    """Every model trained under ``shared/models`` (and ``shared/oracles``): seconds and tokens."""
    out = []
    for kind in ("models", "oracles"):
        for d in sorted((shared / kind).glob("*")):
            meta, prov = d / "behemoth_model.json", d / "provenance.json"
            if not (meta.is_file() and prov.is_file()):
                continue
            m, p = json.loads(meta.read_text()), json.loads(prov.read_text())
            secs = float(p.get("seconds", p.get("extra", {}).get("seconds", float("nan"))))
            res = m.get("result", {})
            out.append(
                {
                    "kind": kind[:-1],
                    "seconds": secs,
                    "tokens": float(res.get("tokens") or 0),
                    "steps": float(res.get("steps") or 0),
                    "seed": float(m.get("config", {}).get("seed", 0)),
                }
            )
    return out


def report(sweep: Path, shared: Path, wall: float | None, load: tuple[float, float] | None) -> None:
    trained = training(shared)
    t = pq.read_table(sweep / "timings.parquet").to_pylist()
    ok = [r for r in t if r.get("status") == "ok"]
    runs_s = {p: sum(float(r.get(p) or 0.0) for r in ok) for p in PHASES}
    run_total = sum(runs_s.values())
    train_total = sum(x["seconds"] for x in trained)
    print(f"sweep {sweep}: {len(ok)} runs ok, {len(t) - len(ok)} failed")
    for kind in ("model", "oracle"):
        xs = [x["seconds"] for x in trained if x["kind"] == kind]
        if xs:
            print(
                f"  trained {len(xs)} {kind}s: {sum(xs):.0f} s in all "
                f"({min(xs):.0f}-{max(xs):.0f} s each, mean {sum(xs) / len(xs):.0f} s)"
            )
    print(
        "  runs: "
        + ", ".join(f"{p[:-2]} {v:.0f} s" for p, v in runs_s.items() if v)
        + f"; {run_total:.0f} s in all, {run_total / max(1, len(ok)):.1f} s per run"
    )
    both = train_total + run_total
    if both:
        print(
            f"  worker time: training {train_total:.0f} s ({train_total / both:.0%}), "
            f"runs {run_total:.0f} s ({run_total / both:.0%})"
        )
    if wall is not None:
        line = f"  wall: {wall:.0f} s ({wall / 60:.1f} min)"
        if load is not None:
            line += f", load average {load[0]:.1f} at the start and {load[1]:.1f} at the end"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sweep", nargs="?", help="a finished sweep directory")
    ap.add_argument("--shared", default=None, help="its shared directory (default SWEEP/shared)")
    ap.add_argument("--wall", type=float, default=None, help="its wall time, if known")
    ap.add_argument("--run", default=None, help="run this spec (a preset or YAML) first")
    ap.add_argument("--out", default=None, help="with --run: the sweep directory")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    if args.run:
        from behemoth.experiments.sweep import load_spec, run_sweep
        from behemoth.experiments.sweep.backends import LocalBackend

        if not args.out:
            ap.error("--run needs --out")
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        run_sweep(
            load_spec(args.run, args.scale),
            args.out,
            backend=LocalBackend(args.workers),
            shared=args.shared,
        )
        wall = time.perf_counter() - t0
        sweep = Path(args.out)
        report(
            sweep,
            Path(args.shared) if args.shared else sweep / "shared",
            wall,
            (load0, os.getloadavg()[0]),
        )
        return
    if not args.sweep:
        ap.error("give a sweep directory or --run SPEC --out DIR")
    sweep = Path(args.sweep)
    report(sweep, Path(args.shared) if args.shared else sweep / "shared", args.wall, None)


if __name__ == "__main__":
    main()
