"""``run_experiment(config, out)``: the one place a run is wired.

Find the world and the model (directories, or recipes built once under the run's cache:
:func:`~behemoth.experiments.replicates.resolve_world`,
:func:`~behemoth.experiments.replicates.resolve_model`), load them, then per trained replicate
(``config.replicates``; replicate 0 is the model itself, the others trained once,
:mod:`behemoth.experiments.replicates`) and per seed: build the scenario, build the editor,
prepare it with the run's :class:`EditContext`, apply the batches in order (evaluating on the
schedule, with the sequential bookkeeping of :mod:`behemoth.experiments.sequential`), and finally
write everything atomically into ``out``::

    records.*          evaluation records (rows carry ``replicate``, ``seed`` and
                       ``edits_applied``; items.parquet every item at every checkpoint)
    sequential.parquet per-edit update norms and success, per-checkpoint retention, weight
                       distances and world accuracy; sequential.png plots them (streams)
    edit.json          editor, scenario, run id, per-batch log, deltas, detection results,
                       with several seeds the mean / sd / interval over seeds, and with
                       several replicates each number over the trained models
                       (``over_replicates``: mean, t interval over models, between-model SD)
    editor.yaml        the resolved editor config; experiment.yaml the resolved experiment
    model/ (adapter/, memory/)   the edited artifact; with several seeds seed-S/model/ ...,
                       with several replicates replicate-R/[seed-S/]model/ ...
    measurements.json  time and memory (kept apart: every other file is byte-identical for the
                       same config), provenance.json

With ``out=None`` nothing is written: the caller takes the :class:`ExperimentResult` (a sweep
run does, :func:`behemoth.experiments.sweep.execute.execute`, its rows going into the sweep's
one table).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from behemoth.editors.context import EditContext
from behemoth.editors.registry import build_editor
from behemoth.evaluation.cost import split_measurements
from behemoth.evaluation.evaluate import reference_scores
from behemoth.evaluation.records import Records
from behemoth.evaluation.uncertainty import over_seeds
from behemoth.experiments.config import ExperimentConfig
from behemoth.experiments.editing import EditRun, run_edit
from behemoth.experiments.load import load_run_model
from behemoth.experiments.replicates import cache_root, resolve_model, resolve_world
from behemoth.experiments.sequential import SequentialTracker
from behemoth.io import atomic_dir, check_out, write_json
from behemoth.provenance import write_provenance
from behemoth.scenarios.scenario import Scenario, get_scenario
from behemoth.world.world import World

#: Keys that identify one number across seeds (see :func:`over_seeds`).
SEED_KEYS = ("metric", "group", "split", "phase", "edits_applied", "batches_applied")


@dataclass
class SeedRun:
    """One seed's run on one trained replicate: its scenario, the edit run, the sequential
    bookkeeping, the wall times of the editor's preparation and of the unedited model's
    reference scores, and the unedited model it started from."""

    seed: int | None
    scenario: Scenario
    run: EditRun
    tracker: SequentialTracker
    prepare_seconds: float
    reference_seconds: float = 0.0
    replicate: int = 0
    model_dir: Path | None = None
    original: Any = None
    #: with ``config.oracle``: the run judged against the retain oracle
    #: (:class:`~behemoth.evaluation.unlearning.judge.OracleJudgment`)
    judgment: Any = None
    #: the seed the run gave its editor (``config.seeds``' entry; None: the settings' own)
    editor_seed: int | None = None
    #: the whole run's change from ``original`` (norms and ranks per weight; none for a
    #: wrapper): computed once, here, for ``edit.json`` and the sweep's cost rows alike
    deltas: dict[str, Any] = field(default_factory=dict)
    #: wall time of the oracle judgment (0 without ``config.oracle``)
    judge_seconds: float = 0.0


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    run_id: str
    out: Path | None
    records: Records
    runs: list[SeedRun] = field(default_factory=list)
    #: the model directory the run edited (replicate 0; a recipe's, once built)
    model_dir: Path | None = None
    seed_summary: list[dict[str, Any]] = field(default_factory=list)
    replicate_summary: list[dict[str, Any]] = field(default_factory=list)
    edit: dict[str, Any] = field(default_factory=dict)


def run_experiment(
    config: ExperimentConfig,
    out: str | Path | None,
    *,
    force: bool = False,
    progress: bool = False,
    loaded: tuple[Any, World] | None = None,
    echo: Callable[[str], None] | None = None,
    run_name: str | None = None,
    prepare_guard: Callable[[], AbstractContextManager[Any]] | None = None,
) -> ExperimentResult:
    """Run ``config`` into ``out`` (checked first; nothing is written unless the run succeeds;
    None: nothing is written, the result is returned only).

    ``loaded``: an already loaded (model, world) to reuse (e.g. a sweep's shared one);
    ``progress``: a progress bar on stderr for streams; ``echo``: where summaries are printed
    (None: nowhere); ``run_name``: the records' ``run`` (default ``editor:model-dir``);
    ``prepare_guard``: a context entered around ``editor.prepare`` (a sweep's lock on its shared
    statistics cache).

    Off a terminal (a script's log, a notebook's pipe) progress comes as plain lines and a
    heartbeat whenever the run is silent (:func:`behemoth.progress.plain_stderr`).
    """
    from behemoth.progress import plain_stderr

    with plain_stderr("run_experiment"):
        return _run_experiment(config, out, force, progress, loaded, echo, run_name, prepare_guard)


def _run_experiment(
    config: ExperimentConfig,
    out: str | Path | None,
    force: bool,
    progress: bool,
    loaded: tuple[Any, World] | None,
    echo: Callable[[str], None] | None,
    run_name: str | None,
    prepare_guard: Callable[[], AbstractContextManager[Any]] | None,
) -> ExperimentResult:
    say = echo or (lambda _s: None)
    out_dir = check_out(out, force, "edit.json") if out is not None else None
    # every seed's scenario is built (checked against the world) before the model is loaded:
    # a bad setting, e.g. a subject the world lacks, fails without waiting for the load
    if loaded is not None:
        model, world = loaded
        scenarios = _scenarios(config, world)
        model_dir = resolve_model(config, world, build=False)  # whoever loaded it built it
    else:
        world = resolve_world(config)
        scenarios = _scenarios(config, world)
        model_dir = resolve_model(config, world)
        model = load_run_model(str(model_dir), world)
    model = model.to(config.device)
    run_name = run_name or f"{config.editor}:{model_dir.resolve().name}"
    guard = prepare_guard or contextlib.nullcontext
    runs: list[SeedRun] = []
    records = Records()
    for rep in range(config.replicates):
        if rep:
            from behemoth.experiments.replicates import trained_replicate
            from behemoth.model import load_model

            cache = cache_root(config)
            say(f"replicate {rep} of {config.replicates}: training once under {cache} if absent")
            rep_dir = trained_replicate(model_dir, world, rep, cache)
            loaded_rep: Any = load_model(rep_dir, world)[0]
            model = loaded_rep.to(config.device)
        else:
            rep_dir = model_dir
        for sr in _seed_runs(config, model, world, scenarios, run_name, guard, progress, say, rep):
            sr.model_dir, sr.original = rep_dir, model
            sr.deltas = sr.run.result.changes_from(model)
            if config.oracle:
                t0 = time.perf_counter()
                _judge(config, sr, world, rep_dir, say)
                sr.judge_seconds = time.perf_counter() - t0
            records.extend(_tagged(sr.run.records, sr.seed, rep if config.replicates > 1 else None))
            runs.append(sr)
    keys = SEED_KEYS + ("replicate",)
    seed_summary = over_seeds(records.rows, keys=keys) if len(config.run_seeds()) > 1 else []
    rep_summary = over_replicates(records.rows) if config.replicates > 1 else []
    result = ExperimentResult(
        config, config.run_id(), out_dir, records, runs, model_dir, seed_summary, rep_summary
    )
    if out_dir is not None:
        _write(result, world, out_dir, force)
    return result


def over_replicates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each number of the run stated over the trained replicates: per (seed, metric, group,
    split, phase, checkpoint), the mean of the per-model values, the Student-t 95% interval over
    models and the between-model SD (:func:`behemoth.replicates.across_models`; shares bounded
    to [0, 1])."""
    from behemoth.replicates import across_models

    keys = ("seed", *SEED_KEYS)
    groups: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    for r in rows:
        if r.get("value") is None:
            continue
        groups.setdefault(tuple(r.get(k) for k in keys), {})[int(r.get("replicate", 0))] = r
    out = []
    for key, by_rep in groups.items():
        reps = sorted(by_rep)
        vals = [float(by_rep[i]["value"]) for i in reps]
        est = across_models(
            vals, [int(by_rep[i].get("n") or 0) for i in reps], bounds=_bounds(by_rep[reps[0]])
        )
        out.append(
            {
                **dict(zip(keys, key)),
                "replicates": reps,
                "n_models": est.n_models,
                "mean": est.value,
                "ci_low": est.lo,
                "ci_high": est.hi,
                "sd_between_models": est.sd,
                "per_model": list(est.per_model),
                "method": est.method,
            }
        )
    return out


def _tagged(rec: Records, seed: int | None, replicate: int | None) -> Records:
    """``rec`` with its items naming their seed (and replicate), as its rows already do, so the
    items of several seeds and replicates in one run stay apart."""
    import pyarrow as pa

    def tag(t: pa.Table) -> pa.Table:
        t = t.append_column("seed", pa.array([seed] * t.num_rows, pa.int64()))
        if replicate is not None:
            t = t.append_column("replicate", pa.array([replicate] * t.num_rows, pa.int64()))
        return t

    return Records(rec.rows, [tag(t) for t in rec.items], [tag(t) for t in rec.pre_items])


def _bounds(row: dict[str, Any]) -> tuple[float, float] | None:
    """The range a metric's value can take: shares in [0, 1], a drawdown (a difference of two
    shares) in [-1, 1], anything else unbounded."""
    if row.get("family") != "accuracy" or row.get("aggregation") != "mean":
        return None
    return (-1.0, 1.0) if row.get("metric") == "drawdown" else (0.0, 1.0)


def _seed_runs(
    config: ExperimentConfig,
    model: Any,
    world: World,
    scenarios: dict[int | None, Scenario],
    run_name: str,
    guard: Callable[[], AbstractContextManager[Any]],
    progress: bool,
    say: Callable[[str], None],
    replicate: int,
) -> list[SeedRun]:
    """Every seed's run on one trained model."""
    runs: list[SeedRun] = []
    extra_rep = {"replicate": replicate} if config.replicates > 1 else {}
    for seed in config.run_seeds():
        scen_cfg = config.scenario_config(seed)
        scenario = scenarios[seed]
        say(scenario.summary())
        editor = build_editor(config.editor, config.editor_config(seed))
        context = EditContext.for_scenario(world, scenario, seed, cache=cache_root(config))
        t0 = time.perf_counter()
        with guard():
            editor.prepare(model, context)
        prepare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = reference_scores(model, scenario)
        reference_s = time.perf_counter() - t0
        tracker = SequentialTracker(
            model,
            world,
            scenario,
            seed=scen_cfg.seed,
            factor=config.disabling_factor,
            history=config.disabling_history,
            fraction=config.collapse_fraction,
            progress=progress and len(scenario.batches) > 1,
        )
        try:
            run = run_edit(
                model,
                world,
                scenario,
                editor,
                ref,
                run=run_name,
                eval_every=config.eval_every,
                extra={"seed": scen_cfg.seed, **extra_rep},
                context=context,
                on_batch=tracker.after_batch,
                on_checkpoint=tracker.at_checkpoint,
            )
        finally:
            tracker.close()
        sr = SeedRun(scen_cfg.seed, scenario, run, tracker, prepare_s, reference_s, replicate)
        sr.editor_seed = seed
        runs.append(sr)
    return runs


def _judge(
    config: ExperimentConfig, sr: SeedRun, world: World, model_dir: Path, say: Callable[[str], None]
) -> None:
    """Judge one seed's run against the retain oracles (the one judgment step,
    :func:`behemoth.evaluation.unlearning.judge.judge_unlearning`, the sweep's too): the oracles
    are trained once under ``<cache>/oracles`` (a file lock each), the judgment kept on ``sr``
    and its rows added to the run's records after its last batch."""
    from behemoth.evaluation.unlearning.judge import judge_unlearning, stop_share
    from behemoth.experiments.sweep.cache import file_lock

    cache = cache_root(config) / "oracles"
    editor_cfg = config.editor_config(sr.editor_seed)
    say(f"retain oracle: judging against {config.oracle_replicates} (trained once under {cache})")
    sr.judgment = judge_unlearning(
        world,
        sr.scenario,
        sr.original,
        sr.run.model,
        model_dir=model_dir,
        cache_dir=cache,
        seed=int(editor_cfg.seed),
        stop_share=stop_share(editor_cfg.to_dict()),
        replicates=config.oracle_replicates,
        guard=lambda key: file_lock(cache / f"{key}.lock"),
    )
    rows = sr.run.records.rows
    base = {k: rows[0][k] for k in BASE_KEYS if rows and k in rows[0]}
    last = max((int(r.get("edits_applied") or 0) for r in rows), default=0)
    batches = len(sr.run.batches)
    extra = {"seed": sr.seed, **({"replicate": sr.replicate} if config.replicates > 1 else {})}
    for r in sr.judgment.rows():
        rows.append(
            {
                **base,
                **r,
                **extra,
                "edits_applied": last,
                "batches_applied": batches if batches > 1 else None,
            }
        )


#: The keys every record row of a run shares (who measured what: protocol, run, scenario ...).
BASE_KEYS = ("protocol", "protocol_version", "run", "scenario", "mode", "world", "editor")


def _scenarios(config: ExperimentConfig, world: World) -> dict[int | None, Scenario]:
    """Every seed's scenario, built on ``world`` (so checked against it; with ``oracle``, each
    must forget facts: refused here, before the model loads)."""
    spec = get_scenario(config.scenario)
    built = {seed: spec.build(world, config.scenario_config(seed)) for seed in config.run_seeds()}
    if config.oracle:
        from behemoth.evaluation.unlearning.judge import check_forget

        for scenario in built.values():
            check_forget(scenario)
    return built


def _write(result: ExperimentResult, world: World, out: Path, force: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = result.config
    rec = Records(
        list(result.records.rows), list(result.records.items), list(result.records.pre_items)
    )
    many = len(result.runs) > 1
    reps = cfg.replicates > 1
    per_seed, measured_batches, seq_rows = [], [], []
    for sr in result.runs:
        rows, batches, measured = split_measurements(sr.run.records.rows, sr.run.batches)
        rep = {"replicate": sr.replicate} if reps else {}
        measured_batches.append(
            {**rep, "seed": sr.seed, "prepare_seconds": sr.prepare_seconds, **measured}
        )
        per_seed.append(
            {
                **rep,
                "seed": sr.seed,
                "batches": batches,
                "deltas": sr.deltas,
                "sequential": sr.tracker.summary(),
            }
        )
        seq_rows += [{**r, **rep} for r in sr.tracker.rows]
    rec.rows, _, _ = split_measurements(rec.rows, [])
    first = result.runs[0]
    edit = {
        "run_id": result.run_id,
        "editor": cfg.editor,
        "config": cfg.editor_config(cfg.run_seeds()[0]).to_dict(),
        "scenario": first.scenario.config,
        "model": str((result.model_dir or Path(str(cfg.model))).resolve()),
        "world": world.fingerprint,
        "seeds": cfg.run_seeds() if reps else [sr.seed for sr in result.runs],
        **({"replicates": cfg.replicates} if reps else {}),
        **({"runs": per_seed} if many else {k: v for k, v in per_seed[0].items() if k != "seed"}),
    }
    if len(cfg.run_seeds()) > 1:
        edit["over_seeds"] = result.seed_summary
    if cfg.oracle:
        judged = [
            {"replicate": sr.replicate, "seed": sr.seed, **sr.judgment.to_json()}
            for sr in result.runs
        ]
        edit["unlearning"] = judged if many else judged[0]
    if reps:
        edit["over_replicates"] = result.replicate_summary
    result.edit = edit
    with atomic_dir(out, force=force, marker="edit.json") as tmp:
        rec.write(tmp)
        table = pa.Table.from_pylist(seq_rows) if seq_rows else None
        if table is not None:
            pq.write_table(table, tmp / "sequential.parquet")
        if any(len(sr.scenario.batches) > 1 for sr in result.runs):
            from behemoth.experiments.sequential_plot import plot_sequential

            plot_sequential(seq_rows, per_seed, tmp / "sequential.png", title=result.run_id)
        write_json(tmp / "measurements.json", {"runs": measured_batches})
        if cfg.save_artifact:
            for sr in result.runs:
                where = tmp / f"replicate-{sr.replicate}" if reps else tmp
                where = where / f"seed-{sr.seed}" if len(cfg.run_seeds()) > 1 else where
                _save_artifact(sr.run, sr.model_dir or Path(str(cfg.model)), world, where)
        (tmp / "editor.yaml").write_text(cfg.editor_config(cfg.run_seeds()[0]).to_yaml())
        (tmp / "experiment.yaml").write_text(yaml.safe_dump(cfg.resolved(), sort_keys=True))
        write_json(tmp / "edit.json", edit)
        from behemoth.experiments.results_json import write_edit_results

        write_edit_results(result, tmp)  # the headline, lm-eval style
        write_provenance(tmp, {"run_id": result.run_id})


def _save_artifact(run: EditRun, model_dir: Path, world: World, where: Path) -> None:
    run.result.save(where, _meta_files(model_dir, world))


def _meta_files(src: Path, world: World) -> list[Path]:
    """The original's behemoth metadata and the world's tokenizer, so a saved model loads alike."""
    out = []
    for name in (
        "behemoth_model.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ):
        for where in (src, Path(world.path)):
            if (where / name).is_file():
                out.append(where / name)
                break
    return out
