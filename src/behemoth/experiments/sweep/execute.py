"""One run of a sweep: its experiment in, tidy rows out (world and model shared, built once).

:func:`execute` is what a backend calls in a worker. It reads the run's
:class:`~behemoth.experiments.config.ExperimentConfig` back from its config
(:func:`~behemoth.experiments.sweep.spec.experiment_of`) with the shared directory as its cache,
builds (or finds) the world and the model of its recipes there
(:func:`~behemoth.experiments.replicates.resolve_world` / ``resolve_model``, the same functions
``behemoth edit`` uses; covariance statistics and oracles are kept there too), runs it with
:func:`~behemoth.experiments.run.run_experiment` (the one place a run is wired; nothing written,
the rows come back here) and returns:

- ``rows``: what the run measured about the model, deterministic for a config (same config ->
  same rows, on any backend): every evaluation record, plus the size of the update
  (``update_rank``, ``update_fro``) and, for streams, the size of each batch's update
  (``batch_update_fro``, the signal of Gupta et al.'s disabling edits);
- ``timings``: what it cost on this machine (phase wall times: ``build_s`` finding or building
  the shared world and model, ``load_s`` loading them, ``prepare_s`` the editor's statistics,
  ``reference_s``, ``edit_s``, ``eval_s``, ``oracle_s``, ``relearn_s``), kept apart so that
  tables compare byte for byte across machines and backends.

With ``oracle`` in the experiment (the spec's ``oracle: true``), ``run_experiment`` also judges
a forget run against the retain oracles
(:func:`behemoth.evaluation.unlearning.judge.judge_unlearning`, built once per forget set under
``<shared>/oracles``): its group ``unlearning`` rows (forget quality, model utility, MIA AUCs,
PrivLeak and their noise floor) come with the run's records.

With ``relearn`` (the spec's ``relearn: true`` or its settings), a forget run's unlearned model
and, with ``oracle``, each retain oracle are attacked by relearning from one seeded split of the
forgotten facts (:func:`behemoth.evaluation.unlearning.relearn.attack_models`, seed: the
editor's): group ``relearning`` rows (split: ``unlearned``, ``oracle``, ``oracle_2``, ...) and
one item per fact (``exposure``, ``edit`` and ``edits_applied`` like every item), so which facts
were removed and which only hidden can be cut by exposure.

Every row carries ``checkpoint``: the number of edits applied when it was measured (0 for the
unedited model's own scores, ``phase`` "pre", kept once per run).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from behemoth.experiments.replicates import resolve_model, resolve_world
from behemoth.experiments.replicates import shared_model as shared_model  # (re-exported)
from behemoth.experiments.replicates import shared_world as shared_world  # (re-exported)

if TYPE_CHECKING:
    from behemoth.evaluation.unlearning.relearn import RelearnJudgment
    from behemoth.experiments.config import ExperimentConfig
    from behemoth.experiments.run import SeedRun
    from behemoth.world.world import World

#: Rows of these metrics measure the machine, not the model: they go to the timings.
TIMING_METRICS = ("wall_time_s", "peak_memory_bytes", "memory_increase_bytes")


@dataclass
class RunOutput:
    """``rows``: aggregate records; ``timings``: this machine's phase times; ``items``: every
    item's value (a pyarrow Table, one row per item and checkpoint, ``edits_applied`` on each),
    from which any interval of ``rows`` can be recomputed (None: the run function keeps none)."""

    rows: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    items: Any = None
    #: per applied batch: ``requests``, ``update_fro`` and the editor's own ``info`` (e.g. the
    #: fine-tuning trainer's ``steps`` and final ``nll``), kept in ``run.json["batches"]``
    batches: list[dict[str, Any]] = field(default_factory=list)


def execute(config: dict[str, Any], run_id: str, shared: Path) -> RunOutput:
    """Run one sweep run (its :func:`~behemoth.experiments.sweep.spec.run_config`, as
    :func:`~behemoth.experiments.sweep.spec.expand` lists it) through
    :func:`behemoth.experiments.run.run_experiment` alone, with ``shared`` as the experiment's
    cache: its world and model recipes built there once, its statistics and oracles kept there."""
    import torch
    from transformers.utils import logging as hf_logging

    from behemoth.experiments.run import BASE_KEYS, run_experiment
    from behemoth.experiments.sweep.cache import file_lock
    from behemoth.experiments.sweep.spec import experiment_of
    from behemoth.model import load_model

    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)  # one thread per run: identical sums on every backend
    shared = Path(shared)
    # the cache travels in the run's config (ExperimentConfig.cache, never in the run id) and
    # from there in the editor's EditContext: nothing is planted in the environment
    experiment = experiment_of(config, cache=shared)
    t = time.perf_counter()
    world = resolve_world(experiment)
    model_dir = resolve_model(experiment, world)
    build_s = time.perf_counter() - t  # finding (or, for the first run, building) them
    t = time.perf_counter()
    model, _ = load_model(model_dir, world)
    load_s = time.perf_counter() - t

    # Statistics are cached per model in the shared directory; the lock makes the first run
    # that needs them compute them while the others wait and then read the cache.
    result = run_experiment(
        experiment,
        None,
        loaded=(model, world),
        run_name=run_id,
        prepare_guard=lambda: file_lock(shared / "stats" / f"{model_dir.name}.lock"),
    )
    (seed_run,) = result.runs
    run, scenario = seed_run.run, seed_run.scenario
    timings = {
        "build_s": build_s,
        "load_s": load_s,
        "prepare_s": seed_run.prepare_seconds,
        "reference_s": seed_run.reference_seconds,
        "edit_s": sum(b["wall_seconds"] for b in run.batches),
        "eval_s": sum(b.get("eval_seconds", 0.0) for b in run.batches),
    }
    if experiment.oracle:
        timings["oracle_s"] = seed_run.judge_seconds
    relearned = None
    if experiment.relearn is not None:
        t = time.perf_counter()
        relearned = _relearn(experiment, seed_run, world)
        timings["relearn_s"] = time.perf_counter() - t

    total = len(scenario.requests)
    rows = []
    last = len(run.batches)
    for r in run.records.rows:  # the oracle's judgment among them (group ``unlearning``)
        if r["metric"] in TIMING_METRICS:
            continue
        if r.get("phase") == "pre" and r.get("batches_applied", last) != last:
            continue  # the unedited model's scores: kept once, from the final evaluation
        r = {k: v for k, v in r.items() if k != "seed"}  # the sweep's own column says it
        rows.append({**r, "checkpoint": int(r.get("edits_applied", total))})
    base = {k: v for k, v in run.records.rows[0].items() if k in BASE_KEYS}
    norms = seed_run.deltas  # the whole run's change, computed once by run_experiment
    ranks = [int(n["rank"]) for n in norms.values() if n["rank"] is not None]
    fro = math.sqrt(sum(float(n["fro"] or 0.0) ** 2 for n in norms.values()))
    rows.append(_cost_row(base, "update_rank", "all", float(max(ranks, default=0)), total))
    rows.append(_cost_row(base, "update_fro", "all", fro, total))
    if len(run.batches) > 1:
        done = 0
        for b in run.batches:
            done += b["requests"]
            rows.append(_cost_row(base, "batch_update_fro", "edit", b["update_fro"], done))
    items = _items(run.records)
    if relearned is not None:
        at = {"edits_applied": total, "batches_applied": last if last > 1 else None}
        rows += [{**base, **r, **at, "checkpoint": total} for r in relearned.rows()]
        items = _concat(items, relearned.records(run_id, at).items_table())
    kept = [
        {"requests": b["requests"], "update_fro": b["update_fro"], "info": _jsonable(b["info"])}
        for b in run.batches
    ]
    return RunOutput(rows, timings, items, kept)


def _jsonable(x: Any) -> Any:
    """An editor's ``info`` as JSON: numbers, strings, lists and dicts kept (numpy and torch
    scalars and arrays as their Python values), anything else by its ``repr``."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    tolist = getattr(x, "tolist", None)  # numpy / torch scalars and arrays
    if callable(tolist):
        return _jsonable(tolist())
    return repr(x)


def _relearn(experiment: ExperimentConfig, seed_run: SeedRun, world: World) -> RelearnJudgment:
    """The relearning attack of one run (:func:`~behemoth.evaluation.unlearning.relearn.
    attack_models`): the unlearned model and, when the run was judged, each retain oracle (from
    its directory), from one split of the facts the judgment measured (the same
    ``stop_share`` left out), seeded by the editor's seed."""
    from behemoth.evaluation.unlearning.judge import check_forget, forget_split, stop_share
    from behemoth.evaluation.unlearning.relearn import attack_models, oracle_names
    from behemoth.model import load_model

    check_forget(seed_run.scenario, "relearn")
    editor_cfg = experiment.editor_config(seed_run.editor_seed)
    judged = seed_run.judgment
    split = (
        judged.split
        if judged is not None
        else forget_split(world, seed_run.scenario, stop_share(editor_cfg.to_dict()))
    )
    assert experiment.relearn is not None  # the caller's condition
    models = {"unlearned": seed_run.run.model}
    if judged is not None:
        for name, odir in zip(oracle_names(len(judged.oracle_dirs)), judged.oracle_dirs):
            models[name] = load_model(odir, world)[0]
    return attack_models(
        world, seed_run.scenario, split, models, experiment.relearn, int(editor_cfg.seed)
    )


def _concat(a: Any, b: Any) -> Any:
    """Two item tables as one (the run's columns: ``b`` cast to ``a``'s schema)."""
    import pyarrow as pa

    return pa.concat_tables([a, b.select(a.column_names).cast(a.schema)])


def _items(records: Any) -> Any:
    """The run's item table without its ``run`` name (the sweep's run id says it) and with the
    checkpoint of every item (``edits_applied``; a single-batch run's items were all measured
    after its one batch)."""
    import pyarrow as pa

    table = records.items_table()
    if "run" in table.column_names:
        table = table.drop_columns(["run"])
    if "phase" in table.column_names and "batches_applied" in table.column_names:
        import pyarrow.compute as pc

        # the unedited model's items: kept once, from the final evaluation (as its rows are)
        last = max((int(r.get("batches_applied") or 0) for r in records.rows), default=0)
        stale = pc.and_(
            pc.equal(table["phase"], "pre"), pc.not_equal(table["batches_applied"], last)
        )
        table = table.filter(pc.invert(stale))
    if "edits_applied" not in table.column_names:
        total = max((int(r.get("edits_applied") or 0) for r in records.rows), default=0)
        table = table.append_column("edits_applied", pa.array([total] * table.num_rows, pa.int64()))
    return table


def _cost_row(
    base: dict[str, Any], metric: str, split: str, value: float, checkpoint: int
) -> dict[str, Any]:
    return {
        **base,
        "metric": metric,
        "group": "cost",
        "split": split,
        "family": "cost",
        "higher_is_better": False,
        "aggregation": "value",
        "value": value,
        "n": 1,
        "checkpoint": checkpoint,
    }
