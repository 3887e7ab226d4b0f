"""One unlearning study: every method on one forget set, judged against the retain oracle.

A thin caller of the one run path: each method is an edit run
(:func:`behemoth.experiments.run.run_experiment` of an
:class:`~behemoth.experiments.config.ExperimentConfig`, the path ``behemoth edit`` takes),
judged by the one judgment step (:func:`behemoth.evaluation.unlearning.judge.judge_unlearning`,
behind ``behemoth edit --oracle`` and a sweep's ``oracle: true`` too) against the retain
oracles of the scenario's forget set (``oracle_replicates``, default 2: replicates 0 and 1 of the
recipe, trained once under ``<cache>/oracles``), and attacked by relearning
(:mod:`behemoth.evaluation.unlearning.relearn`). It returns one row per model (original, oracle,
the second oracle as the noise floor, methods) with n and 95% intervals; every row also carries
the noise floor (``noise/...``: oracle 2 against oracle 1's forget quality, AUCs and PrivLeak).

Protocol (issue 21): the methods stop on a validation split of the forget facts
(``stop_share``, :mod:`behemoth.editors.unlearning.trainer`) and every forget-side figure is
measured on the other forget facts; membership AUCs and PrivLeak are MUSE's (forget 0,
"holdout" 1: negative PrivLeak = under-unlearned), Min-K% at k = 40% (stated in tokens), and
the non-members are counterfactual statements, not a holdout set.

    python -m behemoth.experiments.unlearning MODEL_DIR --out results/unlearn
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from behemoth.config import validate
from behemoth.errors import BehemothError
from behemoth.evaluation.unlearning.judge import OracleJudgment, forget_split, judge_unlearning
from behemoth.evaluation.unlearning.relearn import Relearning, relearn, split_relearn
from behemoth.evaluation.unlearning.report import (
    Estimate,
    ForgetSplit,
    Measured,
    load_measured,
    measure,
    save_measured,
)
from behemoth.experiments.config import ExperimentConfig
from behemoth.experiments.replicates import default_cache
from behemoth.experiments.run import run_experiment
from behemoth.io import read_json, write_json
from behemoth.model.load import load_model, read_model_meta
from behemoth.model.retain_oracle import training_seconds
from behemoth.progress import bar
from behemoth.scenarios.render import edge_prompts, statement_templates
from behemoth.scenarios.scenario import Scenario, build_scenario
from behemoth.world.rng import derive_rng
from behemoth.world.world import World

log = logging.getLogger(__name__)

#: Methods of the study and their settings (defaults otherwise).
DEFAULT_METHODS: dict[str, dict[str, Any]] = {
    "ga": {},
    "graddiff": {},
    "graddiff-kl": {"method": "graddiff", "retain_loss": "kl"},
    "npo": {},
    "simnpo": {},
    "rmu": {},
    "refusal": {},
    "relabel": {},
}


@dataclass
class Row:
    name: str
    metrics: dict[str, Estimate]
    relearning: Relearning
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def _relearn_sets(world: World, split: ForgetSplit, share: float, seed: int) -> tuple[Any, Any]:
    R = world.graph.n_relations
    tmpl = statement_templates(world)[0]
    a, b = split_relearn(len(split.forget), share, derive_rng(seed, "relearn-split"))

    def probes(flat: np.ndarray) -> Any:
        s, r = flat // R, flat % R
        return edge_prompts(world, tmpl, "S-O", s, r, world.graph.objects[s, r])

    return probes(split.forget[a]), probes(split.forget[b])


def method_config(
    model_dir: str | Path,
    world: World,
    scenario: Scenario,
    label: str,
    settings: dict[str, Any],
    seed: int = 0,
    cache: str | Path | None = None,
) -> ExperimentConfig:
    """The edit run of one method of the study (``settings["method"]``: its editor, default
    ``label``; ``seed``: the editor's): the scenario as built, nothing written."""
    cfg = dict(settings)
    name = cfg.pop("method", label)
    return validate(
        ExperimentConfig,
        {
            "model": str(model_dir),
            "world": str(world.path),
            "scenario": scenario.name,
            "scenario_settings": {k: v for k, v in scenario.config.items() if k != "scenario"},
            "editor": name,
            "editor_settings": {**cfg, "seed": seed},
            "save_artifact": False,
            "cache": None if cache is None else str(cache),
        },
    )


def _method_result(
    label: str,
    config: ExperimentConfig,
    original: torch.nn.Module,
    world: World,
    split: ForgetSplit,
    attack: Any,
    work: Path | None,
    seed: int,
    tick: Any = None,
) -> tuple[Measured, Relearning, float, dict[str, Any]]:
    """Run one method (``run_experiment``), measure it on ``split`` and attack it; cached in
    ``work`` (npz + json). ``tick(step)`` is called after each of the three steps (progress)."""
    tick = tick or (lambda _step: None)
    if work is not None and (work / f"{label}.npz").is_file():
        meta = read_json(work / f"{label}.json")
        for step in ("cached", "cached", "cached"):
            tick(f"{label} {step}")
        return (
            load_measured(work / f"{label}.npz"),
            Relearning(**meta["relearning"]),
            meta["seconds"],
            meta["info"],
        )
    (sr,) = run_experiment(config, None, loaded=(original, world)).runs
    edited = sr.run.model
    seconds = float(sum(b["wall_seconds"] for b in sr.run.batches))
    info = sr.run.result.info
    tick(f"{label} applied")
    m = measure(edited, world, split, seed=seed)
    tick(f"{label} measured")
    rl = attack(edited)
    tick(f"{label} relearning attack")
    log.info("%s: %.1f s, %s", label, seconds, info)
    if work is not None:
        save_measured(m, work / f"{label}.npz")
        write_json(
            work / f"{label}.json", {"relearning": vars(rl), "seconds": seconds, "info": info}
        )
    return m, rl, seconds, info


def run_unlearning(
    model_dir: str | Path,
    world: World,
    scenario: Scenario,
    methods: dict[str, dict[str, Any]] | None = None,
    *,
    cache: str | Path | None = None,
    work_dir: str | Path | None = None,
    methods_only: bool = False,
    with_oracle: bool = True,
    relearn_share: float = 0.1,
    relearn_threshold: float = 0.5,
    relearn_steps: int = 50,
    seed: int = 0,
    oracle_replicates: int = 2,
) -> list[Row]:
    """Rows of the original model, the retain oracle(s) and every method (see module doc).

    ``cache``: the experiments' cache root (oracles under ``<cache>/oracles``; None: the
    default of ``ExperimentConfig.cache``). ``work_dir`` caches each method's measurement, so a
    study can run its methods while the oracle trains (``methods_only``: stop there and return
    no rows) and finish later. ``seed``: every method's editor seed and the measurements'."""
    methods = DEFAULT_METHODS if methods is None else methods
    work = Path(work_dir) if work_dir is not None else None
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    if with_oracle and oracle_replicates < 1:
        raise BehemothError(
            f"oracle_replicates: {oracle_replicates}; train at least 1 oracle (2 for the noise floor)"
        )
    # every method's run is checked (names, settings) before anything loads or trains
    configs = {
        label: method_config(model_dir, world, scenario, label, settings, seed, cache)
        for label, settings in methods.items()
    }
    share = _stop_share(configs)
    split = forget_split(world, scenario, share)
    original, _ = load_model(model_dir, world)
    train_set, rest = _relearn_sets(world, split, relearn_share, seed)

    def attack(model: torch.nn.Module) -> Relearning:
        return relearn(model, train_set, rest, threshold=relearn_threshold, max_steps=relearn_steps)

    # progress (a bar on a terminal, a plain line every 10 s in a pipe): three steps per method
    # (apply, measure, relearning attack), then the original's and each oracle's two
    n_oracles = oracle_replicates if with_oracle else 0
    steps = 3 * len(methods) + (0 if methods_only else 2 + 2 * n_oracles)
    progress = bar(total=steps, desc="unlearning", unit="step")

    def tick(done: str) -> None:
        progress.set_postfix_str(done)
        progress.update(1)

    results = {}
    try:
        for label, config in configs.items():
            results[label] = _method_result(
                label, config, original, world, split, attack, work, seed, tick
            )
        if methods_only:
            return []
        root = Path(cache) if cache is not None else default_cache()
        return _rows(
            results, original, world, scenario, split, share, attack, seed, tick,
            with_oracle, model_dir, root / "oracles", oracle_replicates,
        )  # fmt: skip
    finally:
        progress.close()


def _rows(
    results: dict[str, tuple[Measured, Relearning, float, dict[str, Any]]],
    original: torch.nn.Module,
    world: World,
    scenario: Scenario,
    split: ForgetSplit,
    share: float | None,
    attack: Any,
    seed: int,
    tick: Any,
    with_oracle: bool,
    model_dir: str | Path,
    oracle_dir: Path,
    oracle_replicates: int,
) -> list[Row]:
    """The table's rows once every method has run: the original, the oracles (judged by the
    one judgment step, :func:`judge_unlearning`), then each method."""
    m_orig = measure(original, world, split, seed=seed)
    tick("original measured")
    # the one judgment step, once: the oracles trained (or found) and measured; every row is
    # then a measurement summarized against them (without the oracle: no oracles at all)
    t0 = time.perf_counter()
    j = (
        judge_unlearning(
            world,
            scenario,
            m_orig,
            m_orig,
            model_dir=model_dir,
            cache_dir=oracle_dir,
            seed=seed,
            stop_share=share,
            replicates=oracle_replicates,
        )
        if with_oracle
        else OracleJudgment(split, m_orig, m_orig, [], [], seed)
    )
    wait = time.perf_counter() - t0
    for i in range(len(j.oracles)):
        tick(f"retain oracle {i + 1} trained and measured")
    rows = [Row("original", j.summary(m_orig), attack(original), training_seconds(model_dir))]
    tick("original relearning attack")
    for i, (odir, m) in enumerate(zip(j.oracle_dirs, j.oracles)):
        name = "retain oracle" if i == 0 else f"retain oracle {i + 1} (noise floor)"
        model, _ = load_model(odir, world)
        info = {"oracle_dir": str(odir), "replicate": i, "seconds_this_call": wait}
        rows.append(Row(name, j.summary(m), attack(model), training_seconds(odir), info))
        tick(f"retain oracle {i + 1} relearning attack")
    for label, (m, rl, secs, info) in results.items():
        rows.append(Row(label, j.summary(m), rl, secs, info))
    return rows


def _stop_share(configs: dict[str, ExperimentConfig]) -> float | None:
    """The methods' common ``stop_share`` (None when every one runs a fixed budget): the
    forget facts their stopping rule watches are measured by none of them."""
    from behemoth.evaluation.unlearning.judge import stop_share

    every = (stop_share(c.editor_config(None).to_dict()) for c in configs.values())
    shares = {s for s in every if s is not None}
    if len(shares) > 1:
        raise BehemothError(
            f"stop_share: the methods use {sorted(shares)}; give every method the same share"
        )
    return shares.pop() if shares else None


COLUMNS = (
    ("forget_acc", "forget acc"),
    ("held_out_acc", "held-out acc"),
    ("retain_acc/{trained}", "retain acc"),
    ("model_utility", "utility"),
    ("forget_quality", "forget quality"),
    ("privleak/min_k", "privleak Min-K% 40%"),
    ("privleak/loss", "privleak loss"),
    ("auc/min_k", "AUC Min-K% 40%"),
    ("auc/loss", "AUC loss"),
    ("auc/zlib", "AUC zlib"),
    ("auc/min_k_pp", "AUC Min-K%++"),
)


def table_markdown(rows: list[Row], trained: str) -> str:
    """The study as a markdown table: each value with its 95% interval and n (the items behind
    it). Forget quality is a KS test's p-value (the forget set's truth ratios against the
    oracle's): shown with its n, it has no interval of its own. AUCs are MUSE's (forget 0,
    holdout 1: near 0 = still recognized); PrivLeak < 0 = under-unlearned. The second oracle's
    row ("noise floor") is oracle 2 judged against oracle 1: the forget quality, AUC and
    PrivLeak two models that never saw the forget set already differ by."""
    head = ["method", *[c[1] for c in COLUMNS], "relearn steps", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.name]
        for key, _ in COLUMNS:
            e = r.metrics[key.format(trained=trained)]
            digits = 1 if key.startswith("privleak") else 3
            text = e.fmt(digits) if key != "forget_quality" else f"p={e.value:.2g}"
            if not np.isfinite(e.value) and e.n == 0:
                text = "-"
            cells.append(f"{text} n={e.n}")
        cells += [r.relearning.fmt(), f"{r.seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "metrics": {k: vars(v) for k, v in r.metrics.items()},
            "relearning": vars(r.relearning),
            "seconds": r.seconds,
            "info": r.info,
        }
        for r in rows
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--world", default=None, help="world directory (default: the model's)")
    ap.add_argument("--scenario", default="forget-relation")
    ap.add_argument("--set", action="append", default=[], help="scenario KEY=VALUE")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument(
        "--cache",
        default=None,
        help="the experiments' cache root: oracles under CACHE/oracles "
        "(default: $BEHEMOTH_CACHE, else ~/.cache/behemoth)",
    )
    ap.add_argument("--methods-only", action="store_true", help="run the methods, not the oracle")
    ap.add_argument("--no-oracle", action="store_true", help="a table without the oracle")
    ap.add_argument("--relearn-steps", type=int, default=50, help="most relearning steps")
    ap.add_argument(
        "--oracle-replicates",
        type=int,
        default=2,
        help="retain oracles to train (replicates 0..n-1; 2 or more give the noise floor)",
    )
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    meta = read_model_meta(args.model)
    world = World.load(args.world or meta["world"]["path"])
    sc = build_scenario(world, args.scenario, args.set)
    chosen = {m: DEFAULT_METHODS.get(m, {}) for m in args.methods.split(",") if m}
    out = Path(args.out)
    rows = run_unlearning(
        args.model,
        world,
        sc,
        chosen,
        cache=args.cache,
        work_dir=out / "work",
        methods_only=args.methods_only,
        with_oracle=not args.no_oracle,
        relearn_steps=args.relearn_steps,
        oracle_replicates=args.oracle_replicates,
    )
    if args.methods_only:
        return
    trained = statement_templates(world)[0]
    md = table_markdown(rows, trained)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "rows.json", rows_json(rows))
    (out / "table.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
