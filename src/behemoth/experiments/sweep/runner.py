"""Run a sweep: expand the spec, skip finished runs, run the rest on a backend, build the table.

``run_sweep(spec, out)`` is resumable: a run is finished once its directory is written (see
:mod:`behemoth.experiments.sweep.store`), so killing the sweep at any point and starting it again
runs only what is missing and gives the same final table. A run that raises is recorded with
its error and the others go on; failed runs are retried the next time (``retry_failed``).
A status line shows done / running / failed and the ETA while it runs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from behemoth.experiments.sweep.backends import Backend, LocalBackend, Task
from behemoth.experiments.sweep.spec import RunSpec, SweepSpec, canonical_json, expand
from behemoth.experiments.sweep.store import (
    is_finished,
    write_items,
    write_manifest,
    write_run,
    write_tables,
)

log = logging.getLogger(__name__)

#: The run function: ``(config, run_id, shared_dir) -> RunOutput`` (importable by name).
DEFAULT_RUN_FN = "behemoth.experiments.sweep.execute:execute"
#: How often the table is rebuilt while the sweep runs (seconds).
TABLE_EVERY_S = 30.0


@dataclass
class SweepResult:
    out: Path
    runs: list[RunSpec]
    done: int
    failed: int
    skipped: int
    seconds: float

    @property
    def table(self) -> Path:
        return self.out / "results.parquet"


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    backend: Backend | None = None,
    shared: str | Path | None = None,
    run_fn: str = DEFAULT_RUN_FN,
    retry_failed: bool = True,
    progress: bool = True,
) -> SweepResult:
    """Run every run of ``spec`` not yet finished in ``out``; return counts and the table path.

    ``shared``: where worlds, models and statistics are built once (default ``out/shared``;
    give the same directory to several sweeps to share them).
    """
    out = Path(out)
    runs = expand(spec)
    shared_dir = Path(shared) if shared is not None else out / "shared"
    write_manifest(out, spec.to_dict(), runs)
    todo = _interleave([r for r in runs if not is_finished(out, r.run_id, retry_failed)])
    skipped = len(runs) - len(todo)
    log.info(
        "sweep %s: %d runs, %d already finished, %d to run",
        spec.name,
        len(runs),
        skipped,
        len(todo),
    )
    backend = backend or LocalBackend()
    by_id = {r.run_id: r for r in todo}
    tasks: list[Task] = [(run_fn, r.config, r.run_id, str(shared_dir.resolve())) for r in todo]
    t0 = time.perf_counter()
    done = failed = 0
    last_table = time.perf_counter()
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not progress, dynamic_ncols=True)
    try:
        bar.set_postfix_str(_status(0, backend.running, 0))
        for res in backend.run(tasks):
            if res is None:  # a heartbeat: refresh the status line when it changed
                status = _status(done, backend.running, failed)
                if status != bar.postfix:
                    bar.set_postfix_str(status)
                continue
            run = by_id[res.run_id]
            write_run(out, run, res.rows, res.timings, res.error, res.items)
            if res.error is None:
                done += 1
            else:
                failed += 1
                bar.write(f"run {run.run_id} ({_describe(run)}) failed: {res.error}")
            bar.update(1)
            bar.set_postfix_str(_status(done, backend.running, failed))
            if time.perf_counter() - last_table > TABLE_EVERY_S:
                write_tables(out, runs)
                last_table = time.perf_counter()
    finally:
        bar.close()
        backend.close()
        write_tables(out, runs)
        write_items(out, runs)
    return SweepResult(out, runs, done, failed, skipped, time.perf_counter() - t0)


def _interleave(runs: list[RunSpec]) -> list[RunSpec]:
    """Schedule order: the first run of each (world, model) first, so that the workers build
    different shared models in parallel instead of waiting on one; then the remaining runs
    grouped by (world, model) in the order their models were started, so that a free worker
    takes runs whose model is (most likely) already built rather than blocking on the lock of
    one still training (runs of the same world and model are otherwise in spec order)."""
    firsts: list[int] = []
    rest: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        key = canonical_json([r.config["world"], r.config["model"]])
        if key in rest:
            rest[key].append(i)
        else:
            rest[key] = []
            firsts.append(i)
    order = firsts + [i for ids in rest.values() for i in ids]
    return [runs[i] for i in order]


def _status(done: int, running: int, failed: int) -> str:
    return f"done {done}, running {running}, failed {failed}"


def _describe(run: RunSpec) -> str:
    return " | ".join(f"{v}" for v in run.labels.values())
