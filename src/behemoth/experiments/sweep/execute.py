"""One run of a sweep: a resolved config in, tidy rows out (world and model shared, built once).

:func:`execute` is what a backend calls in a worker. It builds (or finds) the world and the
model in the shared directory (:mod:`behemoth.experiments.sweep.cache`), keeps covariance
statistics there too, turns the run into an
:class:`~behemoth.experiments.config.ExperimentConfig` and runs it with
:func:`~behemoth.experiments.run.run_experiment` (the one place an edit run is wired; nothing
written, the rows come back here) and returns:

- ``rows``: what the run measured about the model, deterministic for a config (same config ->
  same rows, on any backend): every evaluation record, plus the size of the update
  (``update_rank``, ``update_fro``) and, for streams, the size of each batch's update
  (``batch_update_fro``, the signal of Gupta et al.'s disabling edits);
- ``timings``: what it cost on this machine (phase wall times: ``build_s`` finding or building
  the shared world and model, ``load_s`` loading them, ``prepare_s`` the editor's statistics,
  ``reference_s``, ``edit_s``, ``eval_s``, ``oracle_s``), kept apart so that tables compare
  byte for byte across machines and backends.

With ``oracle`` in the config (the spec's ``oracle: true``), a run of a forget scenario is also
judged against the retain oracle (:mod:`behemoth.model.retain_oracle`, built once per forget set
under ``<shared>/oracles``): group ``unlearning`` rows (forget quality, model utility, MIA AUCs,
PrivLeak) from :func:`behemoth.evaluation.unlearning.report.summarize`.

Every row carries ``checkpoint``: the number of edits applied when it was measured (0 for the
unedited model's own scores, ``phase`` "pre", kept once per run).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from behemoth.experiments.config import ExperimentConfig
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


def shared_world(shared: Path, config: dict[str, Any]) -> World:
    """The world of ``config`` (a resolved WorldConfig dict), generated once under ``shared``."""
    from behemoth.experiments.sweep.cache import shared_artifact
    from behemoth.world import World, WorldConfig, generate_world

    d = shared_artifact(
        shared,
        "worlds",
        config,
        lambda p: generate_world(WorldConfig.from_dict(config), p, shards=False),
        lambda p: (p / "world.json").is_file(),
    )
    return World.load(d)


def shared_model(shared: Path, world: World, config: dict[str, Any], build: bool = True) -> Path:
    """The model directory of ``config`` (a resolved RunConfig dict) trained once on ``world``
    (``build=False``: only where it is or would be)."""
    from behemoth.experiments.replicates import model_key
    from behemoth.experiments.sweep.cache import artifact_dir, shared_artifact
    from behemoth.model import RunConfig, train_model

    # the world's directory name is its config's hash: a world regenerated differently (e.g. by
    # a new version) under the same fingerprint never gets a model trained on the old one
    key = model_key(world, config)
    if not build:
        return artifact_dir(shared, "models", key)
    return shared_artifact(
        shared,
        "models",
        key,
        lambda p: train_model(
            world, RunConfig.from_dict(config), p, resume=True, force=True, progress=False
        ),
        lambda p: (p / "behemoth_model.json").is_file(),
    )


def execute(config: dict[str, Any], run_id: str, shared: Path) -> RunOutput:
    """Run one resolved sweep config (see :func:`behemoth.experiments.sweep.spec.expand`) through
    :func:`behemoth.experiments.run.run_experiment`, on the shared world and model."""
    import torch
    from transformers.utils import logging as hf_logging

    from behemoth.experiments.run import run_experiment
    from behemoth.experiments.sweep.cache import file_lock
    from behemoth.model import load_model

    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)  # one thread per run: identical sums on every backend
    shared = Path(shared)
    t = time.perf_counter()
    world = shared_world(shared, config["world"])
    model_dir = shared_model(shared, world, config["model"])
    build_s = time.perf_counter() - t  # finding (or, for the first run, building) them
    t = time.perf_counter()
    # the statistics cache travels in the run's config (ExperimentConfig.cache, never in the run
    # id) and from there in the editor's EditContext: nothing is planted in the environment
    experiment = experiment_config(config, world, model_dir).model_copy(
        update={"cache": str(shared / "cache")}
    )
    model, _ = load_model(model_dir, world)
    load_s = time.perf_counter() - t

    # Statistics are cached per model in the shared directory; the lock makes the first run
    # that needs them compute them while the others wait and then read the cache.
    result = run_experiment(
        experiment,
        None,
        loaded=(model, world),
        run_name=run_id,
        prepare_guard=lambda: file_lock(shared / "cache" / f"{model_dir.name}.lock"),
    )
    (seed_run,) = result.runs
    run, scenario = seed_run.run, seed_run.scenario
    edit_s = sum(b["wall_seconds"] for b in run.batches)
    eval_s = sum(b.get("eval_seconds", 0.0) for b in run.batches)

    total = len(scenario.requests)
    rows = []
    timings = {
        "build_s": build_s,
        "load_s": load_s,
        "prepare_s": seed_run.prepare_seconds,
        "reference_s": seed_run.reference_seconds,
        "edit_s": edit_s,
        "eval_s": eval_s,
    }
    last = len(run.batches)
    for r in run.records.rows:
        if r["metric"] in TIMING_METRICS:
            continue
        if r.get("phase") == "pre" and r.get("batches_applied", last) != last:
            continue  # the unedited model's scores: kept once, from the final evaluation
        r = {k: v for k, v in r.items() if k != "seed"}  # the sweep's own column says it
        rows.append({**r, "checkpoint": int(r.get("edits_applied", total))})
    base = {k: v for k, v in run.records.rows[0].items() if k in _BASE_KEYS}
    norms = run.result.changes_from(model)  # the whole run's change (none for a wrapper)
    ranks = [int(n["rank"]) for n in norms.values() if n["rank"] is not None]
    fro = math.sqrt(sum(float(n["fro"] or 0.0) ** 2 for n in norms.values()))
    rows.append(_cost_row(base, "update_rank", "all", float(max(ranks, default=0)), total))
    rows.append(_cost_row(base, "update_fro", "all", fro, total))
    if len(run.batches) > 1:
        done = 0
        for b in run.batches:
            done += b["requests"]
            rows.append(_cost_row(base, "batch_update_fro", "edit", b["update_fro"], done))
    if config.get("oracle") and "forgetting/forgotten" in scenario.tests:
        t = time.perf_counter()
        seed = int(config["editor"]["settings"].get("seed", 0))
        rows += oracle_rows(
            base,
            shared,
            model_dir,
            world,
            scenario,
            model,
            run.model,
            total,
            seed,
            settings=config["editor"]["settings"],
        )
        timings["oracle_s"] = time.perf_counter() - t
    return RunOutput(rows, timings, _items(run.records))


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


def oracle_rows(
    base: dict[str, Any],
    shared: Path,
    model_dir: Path,
    world: World,
    scenario: Any,
    original: Any,
    edited: Any,
    checkpoint: int,
    seed: int,
    settings: dict[str, Any] | None = None,
    replicates: int = 2,
) -> list[dict[str, Any]]:
    """The run judged against the retain oracle of its forget set: the rows of
    :func:`behemoth.evaluation.unlearning.judge.judge_unlearning` (the one judgment step, also
    behind ``run_experiment``'s ``oracle`` and ``behemoth edit --oracle``), with the sweep's
    ``base`` keys and ``checkpoint``. ``replicates`` oracles are trained once per forget set,
    each under its own file lock, in ``<shared>/oracles``; the second gives the noise floor
    (``noise_<metric>`` rows). The stopping rule's facts (``stop_share`` of the editor
    ``settings``) are left out of every forget-side figure."""
    from behemoth.evaluation.unlearning.judge import judge_unlearning, stop_share
    from behemoth.experiments.sweep.cache import file_lock

    cache = Path(shared) / "oracles"
    judgment = judge_unlearning(
        world,
        scenario,
        original,
        edited,
        model_dir=model_dir,
        cache_dir=cache,
        seed=seed,
        stop_share=stop_share(settings),
        replicates=max(1, replicates),
        # one lock per oracle: different forget sets train in parallel, one forget set once
        guard=lambda key: file_lock(cache / f"{key}.lock"),
    )
    return [{**base, **r, "checkpoint": checkpoint} for r in judgment.rows()]


def experiment_config(config: dict[str, Any], world: World, model_dir: Path) -> ExperimentConfig:
    """The :class:`~behemoth.experiments.config.ExperimentConfig` of one resolved sweep config:
    its scenario and editor settings (each already holding the run's seed), on the shared world
    and model; nothing written (the sweep stores the rows)."""
    from behemoth.config import validate
    from behemoth.experiments.config import ExperimentConfig

    return validate(
        ExperimentConfig,
        {
            "model": str(model_dir),
            "world": str(world.path),
            "scenario": config["scenario"]["name"],
            "scenario_settings": config["scenario"]["settings"],
            "editor": config["editor"]["name"],
            "editor_settings": config["editor"]["settings"],
            "eval_every": config["eval_every"],
            "save_artifact": False,
        },
    )


_BASE_KEYS = ("protocol", "protocol_version", "run", "scenario", "mode", "world", "editor")


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
