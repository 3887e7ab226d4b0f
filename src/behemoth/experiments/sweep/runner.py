"""Run a sweep: expand the spec, skip finished runs, run the rest on a backend, build the table.

``run_sweep(spec, out)`` is resumable: a run is finished once its directory is written (see
:mod:`behemoth.experiments.sweep.store`), so killing the sweep at any point and starting it again
runs only what is missing and gives the same final table. A run that raises is recorded with
its error and the others go on; failed runs are retried the next time (``retry_failed``).
A status line shows done / running / failed and the ETA while it runs, and what is being
built in the shared directory (a model or oracle in training, with its step and training-template
accuracy, read from its live log); in a pipe it is a plain line at least every
``BEHEMOTH_PROGRESS_EVERY`` seconds (:mod:`behemoth.progress`), never silent while work goes on.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from behemoth.errors import ConfigError, OutputExistsError
from behemoth.experiments.sweep.backends import Backend, LocalBackend, Task
from behemoth.experiments.sweep.spec import RunSpec, SweepSpec, canonical_json, expand
from behemoth.experiments.sweep.store import (
    is_finished,
    write_items,
    write_manifest,
    write_run,
    write_tables,
)
from behemoth.io import check_text_path, lock_holder, out_lock, read_json
from behemoth.progress import every_seconds

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
    new_spec: bool = False,
) -> SweepResult:
    """Run every run of ``spec`` not yet finished in ``out``; return counts and the table path.

    ``shared``: where worlds, models and statistics are built once (default ``out/shared``;
    give the same directory to several sweeps to share them).

    ``out`` belongs to one sweep: its lock is held throughout (a second sweep into it is
    refused with the holder's pid), and a folder holding another spec's sweep is refused
    unless ``new_spec`` (this spec then takes the folder over; its table replaces the other's).
    """
    out = Path(out)
    check_sweep_out(out)
    with out_lock(out):
        check_spec_owner(out, spec, new_spec)
        runs = expand(spec)
        if not new_spec:
            check_run_ids(out, runs)
        return _run_locked(spec, runs, out, backend, shared, run_fn, retry_failed, progress)


def check_sweep_out(out: Path) -> None:
    """``out`` is a new or empty directory or a sweep's (``sweep.json``), and no live run holds
    it (raises the one-line refusal otherwise)."""
    check_text_path("--out", out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out: {out} is a file; give a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "sweep.json").is_file():
        raise OutputExistsError(
            f"--out: {out} holds files that are not a sweep; choose a new or empty directory"
        )
    holder = lock_holder(out)
    if holder is not None:
        raise OutputExistsError(
            f"--out: {out} is being written by a live sweep (process {holder}); wait for it to "
            "finish or choose another directory"
        )


def check_spec_owner(out: Path, spec: SweepSpec, new_spec: bool = False) -> None:
    """Refuse to run ``spec`` in a folder that holds the sweep of another spec (unless
    ``new_spec``): its table would silently be replaced by this one's."""
    if new_spec or not (out / "sweep.json").is_file():
        return
    found = read_json(out / "sweep.json", "--out:")
    old = found.get("spec") if isinstance(found, dict) else None
    if canonical_json(old) != canonical_json(spec.to_dict()):
        name = old.get("name", "?") if isinstance(old, dict) else "?"
        raise OutputExistsError(
            f"--out: {out} holds the sweep of another spec ({name!r}, "
            f"{len(found.get('runs', [])) if isinstance(found, dict) else 0} runs); choose another "
            "--out, or pass --new-spec to run this spec there (its table replaces the other's)"
        )


def check_run_ids(out: Path, runs: list[RunSpec]) -> None:
    """Refuse a folder whose sweep of this very spec names its runs by other ids: written by an
    earlier version of behemoth (whose ids were not yet ``ExperimentConfig.run_id()``), its
    finished runs would not be recognised and would all run again beside the old ones."""
    if not (out / "sweep.json").is_file():
        return
    found = read_json(out / "sweep.json", "--out:")
    old = found.get("runs") if isinstance(found, dict) else None
    if not isinstance(old, list):
        return
    stale = set(map(str, old)) - {r.run_id for r in runs}
    if stale:
        raise OutputExistsError(
            f"--out: {out} holds this spec's sweep written by an earlier version of behemoth "
            f"({len(stale)} of its {len(old)} run ids are not this version's); choose a new "
            "--out (its finished runs would not be recognised and would all run again)"
        )


def _run_locked(
    spec: SweepSpec,
    runs: list[RunSpec],
    out: Path,
    backend: Backend | None,
    shared: str | Path | None,
    run_fn: str,
    retry_failed: bool,
    progress: bool,
) -> SweepResult:
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
    every, last_beat = every_seconds(), time.perf_counter()
    try:
        bar.set_postfix_str(_status(0, backend.running, 0))
        for res in backend.run(tasks):
            if res is None:  # a heartbeat: the status line, redrawn at least every `every` s
                now = time.perf_counter()
                if now - last_beat >= every:
                    last_beat = now
                    status = _status(done, backend.running, failed, building(shared_dir))
                    bar.set_postfix_str(status, refresh=False)
                    bar.refresh()  # a plain line in a pipe (progress.plain_stderr)
                continue
            run = by_id[res.run_id]
            write_run(out, run, res.rows, res.timings, res.error, res.items, res.batches)
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


#: Runs a spec may expand to without ``--force``: beyond, a typo (a grid of 1000 values, a
#: seed range) would start days of work, and expanding alone takes minutes.
MAX_RUNS = 20_000


def count_runs(spec: SweepSpec) -> int:
    """How many runs ``spec`` expands to (before two labels naming one config are merged), from
    the sizes of its axes alone: nothing is validated or built, so a huge spec is counted at
    once (:func:`expand` validates every run)."""
    total = 0
    for e in spec.editors.values():
        models = (
            spec.models
            if e.models is None
            else {k: spec.models[k] for k in e.models if k in spec.models}
        )
        replicates = sum(m.replicates for m in models.values())
        worlds = len(spec.worlds) if e.worlds is None else len(set(e.worlds) & set(spec.worlds))
        scen = (
            len(spec.scenarios)
            if e.scenarios is None
            else len(set(e.scenarios) & set(spec.scenarios))
        )
        grid = math.prod(len(v) for v in e.grid.values())
        total += worlds * replicates * scen * grid * len(spec.seeds)
    return total


def check_run_count(spec: SweepSpec, force: bool = False, bound: int = MAX_RUNS) -> int:
    """The spec's run count; above ``bound`` refused (naming the count) unless ``force``."""
    n = count_runs(spec)
    if n > bound and not force:
        raise ConfigError(
            "SPEC",
            f"expands to {n:,} runs, more than the {bound:,} allowed without --force",
            "shrink its grids, seeds or replicates, or pass --force to run them all",
        )
    return n


def _interleave(runs: list[RunSpec]) -> list[RunSpec]:
    """Schedule order: the first run of each (world, model) first, so that the workers build
    different shared models in parallel instead of waiting on one; then the remaining runs
    grouped by (world, model) in the order their models were started, so that a free worker
    takes runs whose model is (most likely) already built rather than blocking on the lock of
    one still training (runs of the same world and model are otherwise in spec order)."""
    firsts: list[int] = []
    rest: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        key = canonical_json([_recipe(r.experiment.world), _recipe(r.experiment.model)])
        if key in rest:
            rest[key].append(i)
        else:
            rest[key] = []
            firsts.append(i)
    order = firsts + [i for ids in rest.values() for i in ids]
    return [runs[i] for i in order]


def _recipe(ref: object) -> object:
    """A world or model reference as JSON-able data (a recipe's fields, a directory's path)."""
    dump = getattr(ref, "to_dict", None)
    return dump() if callable(dump) else ref


def _status(done: int, running: int, failed: int, build: str = "") -> str:
    text = f"done {done}, running {running}, failed {failed}"
    return f"{text}; {build}" if build else text


def building(shared: Path) -> str:
    """What is being trained in the shared directory now: each unfinished model or oracle
    (``<kind>/<key>.partial``) with the step and training-template (``sro``) accuracy of its
    last logged evaluation, e.g. ``training models/1a2b3c4d step 900 sro 0.62``; "" if none."""
    parts = []
    for partial in sorted(shared.glob("*/*.partial")):
        what = f"training {partial.parent.name}/{partial.name.removesuffix('.partial')[:8]}"
        last = _last_line(partial / "train_log.jsonl")
        try:
            rec = json.loads(last) if last else {}
            step, acc = rec.get("step"), rec.get("sets", {}).get("sro", {}).get("acc")
        except (ValueError, AttributeError):  # a line being written
            step = acc = None
        if step is not None:
            what += f" step {step}"
        if acc is not None:
            what += f" sro {acc:.2f}"
        parts.append(what)
    return ", ".join(parts)


def _last_line(path: Path, tail: int = 4096) -> str:
    """The last complete line of a (possibly growing) text file, "" if none or unreadable."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - tail))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    complete = data[: data.rfind("\n") + 1].splitlines()  # not a line still being written
    return complete[-1] if complete else ""


def _describe(run: RunSpec) -> str:
    return " | ".join(f"{v}" for v in run.labels.values())
