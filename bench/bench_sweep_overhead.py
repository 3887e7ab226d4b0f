"""Benchmark: the per-run overhead of a sweep (loading, reference scores, writing) against the
run's own work (editing and evaluating), from the timings every sweep records.

    .venv/bin/python bench/bench_sweep_overhead.py SWEEP_DIR
    .venv/bin/python bench/bench_sweep_overhead.py [--shared DIR]   # runs a small sweep first

Per run, ``timings.parquet`` holds ``build_s`` (finding the shared world and model; the first
run that needs them generates and trains them: a one-time cost, reported apart), ``load_s``
(loading the model, building the scenario and the editor), ``prepare_s`` (covariance
statistics: built once per model, then read from the shared cache),
``reference_s`` (the unedited model's scores), ``edit_s`` and ``eval_s``. Writing is timed
here by writing each run's rows again exactly as the runner does. All figures come from one
sweep on one machine, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from behemoth.config import validate
from behemoth.experiments.sweep import SweepSpec, expand, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from behemoth.experiments.sweep.store import read_run, write_run

SMALL = {
    "name": "overhead",
    "worlds": {"tiny": {"preset": "tiny"}},
    "models": {"tiny": {"preset": "tiny"}},
    "scenarios": {
        "single": {"name": "single"},
        "10 different": {"name": "k-different", "settings": {"k": 10}},
    },
    "editors": {
        "ft": {"name": "ft"},
        "lora": {"name": "lora"},
        "rome": {"name": "rome", "settings": {"layer": 2}},
        "memit": {"name": "memit"},
    },
    "seeds": [0],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", nargs="?", help="a finished sweep directory (default: run one)")
    ap.add_argument("--shared", default=None, help="reuse worlds/models built there")
    args = ap.parse_args()
    if args.sweep:
        out = Path(args.sweep)
        runs = {r.run_id: r for r in expand(validate(SweepSpec, _spec(out)))}
    else:
        out = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
        spec = validate(SweepSpec, SMALL)
        run_sweep(spec, out, backend=LocalBackend(0), shared=args.shared)
        runs = {r.run_id: r for r in expand(spec)}
    timings = [t for t in pq.read_table(out / "timings.parquet").to_pylist() if t["status"] == "ok"]
    if not timings:
        sys.exit("no finished runs")
    write_s = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in timings:
            rows, _ = read_run(out, t["run_id"])
            t0 = time.perf_counter()
            write_run(Path(tmp), runs[t["run_id"]], rows, {})
            write_s.append(time.perf_counter() - t0)
    for t, w in zip(timings, write_s):
        t["write_s"] = w
    cols = ("build_s", "load_s", "prepare_s", "reference_s", "write_s", "edit_s", "eval_s")
    print(f"{len(timings)} runs of {out}; seconds per run (median, mean):")
    for c in cols:
        vals = [float(t[c]) for t in timings]
        print(f"  {c:<12} {statistics.median(vals):8.3f} {statistics.mean(vals):8.3f}")
    over = sum(t["load_s"] + t["reference_s"] + t["write_s"] for t in timings)
    work = sum(t["edit_s"] + t["eval_s"] for t in timings)
    once = sum(t["prepare_s"] + t.get("build_s", 0.0) for t in timings)
    print(f"per-run overhead (load + reference + write) / (edit + eval): {over / work:.3f}")
    print(f"one-time artifacts (build + prepare) / (edit + eval):        {once / work:.3f}")


def _spec(out: Path) -> dict:
    import json

    return json.loads((out / "sweep.json").read_text())["spec"]


if __name__ == "__main__":
    main()
