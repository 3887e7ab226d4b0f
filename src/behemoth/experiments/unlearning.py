"""One unlearning study: every method on one forget set, judged against the retain oracle.

``run_unlearning(model_dir, world, scenario, methods)`` trains (or reads from the cache) the
retain oracles of the scenario's forget set (``oracle_replicates``, default 2: replicates 0 and
1 of the recipe), applies each method to the original model with the unlearning retain mix
(never a held-out subject), measures every model on the same items
(:mod:`behemoth.evaluation.unlearning.report`), runs the relearning attack on each, and returns
one row per model (original, oracle, the second oracle as the noise floor, methods) with n and
95% intervals. Every row also carries the noise floor (``noise/...``: oracle 2 against oracle
1's forget quality, AUCs and PrivLeak) beside its own forget-quality and membership figures.

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

from behemoth.editors import EditContext, build_editor
from behemoth.errors import BehemothError
from behemoth.evaluation.unlearning.relearn import Relearning, relearn, split_relearn
from behemoth.evaluation.unlearning.report import (
    Estimate,
    ForgetSplit,
    Measured,
    load_measured,
    measure,
    save_measured,
    summarize,
)
from behemoth.io import read_json, write_json
from behemoth.model.load import load_model, read_model_meta
from behemoth.model.retain_oracle import retain_oracle, training_seconds
from behemoth.progress import bar
from behemoth.scenarios.forget import held_out_facts, unlearning_retain
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


def _method_result(
    label: str,
    settings: dict[str, Any],
    original: torch.nn.Module,
    world: World,
    scenario: Scenario,
    retain: Any,
    split: ForgetSplit,
    attack: Any,
    work: Path | None,
    seed: int,
    tick: Any = None,
) -> tuple[Measured, Relearning, float, dict[str, Any]]:
    """Apply one method, measure it and attack it; cached in ``work`` (npz + json).
    ``tick(step)`` is called after each of the three steps (progress)."""
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
    cfg = dict(settings)
    name = cfg.pop("method", label)
    editor = build_editor(name, cfg)
    ctx = EditContext(world, retain=retain.probes, seed=seed)
    editor.prepare(original, ctx)
    res = editor.apply(original, scenario.requests, ctx)
    tick(f"{label} applied")
    m = measure(res.model, world, split, seed=seed)
    tick(f"{label} measured")
    rl = attack(res.model)
    tick(f"{label} relearning attack")
    log.info("%s: %.1f s, %s", label, res.wall_seconds, res.info)
    if work is not None:
        save_measured(m, work / f"{label}.npz")
        write_json(
            work / f"{label}.json",
            {"relearning": vars(rl), "seconds": res.wall_seconds, "info": res.info},
        )
    return m, rl, res.wall_seconds, res.info


def run_unlearning(
    model_dir: str | Path,
    world: World,
    scenario: Scenario,
    methods: dict[str, dict[str, Any]] | None = None,
    *,
    oracle_dir: str | Path | None = None,
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

    ``work_dir`` caches each method's measurement, so a study can run its methods while the
    oracle trains (``methods_only``: stop there and return no rows) and finish later."""
    methods = DEFAULT_METHODS if methods is None else methods
    work = Path(work_dir) if work_dir is not None else None
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    original, _ = load_model(model_dir, world)
    # the scenario's retain mix (disjoint from its tests, no held-out subject); else draw one
    retain = (
        scenario.retain if len(scenario.retain) else unlearning_retain(world, scenario, seed=seed)
    )
    held_subjects = held_out_facts(scenario, world.graph.n_relations) // world.graph.n_relations
    if np.isin(retain.probes.subject, held_subjects).any():
        raise BehemothError(
            f"scenario {scenario.name}: its retain mix holds held-out subjects; "
            "unlearning would rehearse the facts it is tested on"
        )
    if with_oracle and oracle_replicates < 1:
        raise BehemothError(
            f"oracle_replicates: {oracle_replicates}; train at least 1 oracle (2 for the noise floor)"
        )
    split = ForgetSplit.from_scenario(world, scenario, retain, _stop_share(methods))
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

    try:
        return _run_all(
            methods, original, world, scenario, retain, split, attack, work, seed, tick,
            methods_only, with_oracle, model_dir, oracle_dir, oracle_replicates,
        )  # fmt: skip
    finally:
        progress.close()


def _run_all(
    methods: dict[str, dict[str, Any]],
    original: torch.nn.Module,
    world: World,
    scenario: Scenario,
    retain: Any,
    split: ForgetSplit,
    attack: Any,
    work: Path | None,
    seed: int,
    tick: Any,
    methods_only: bool,
    with_oracle: bool,
    model_dir: str | Path,
    oracle_dir: str | Path | None,
    oracle_replicates: int,
) -> list[Row]:
    """The steps of :func:`run_unlearning` after its checks, ``tick`` after each."""
    results = {
        label: _method_result(
            label, settings, original, world, scenario, retain, split, attack, work, seed, tick
        )
        for label, settings in methods.items()
    }
    if methods_only:
        return []
    m_orig = measure(original, world, split, seed=seed)
    tick("original measured")
    m_oracle: Measured | None = None
    m_oracle2: Measured | None = None
    rows = []
    if with_oracle:
        oracles = []
        for i in range(oracle_replicates):
            t0 = time.perf_counter()
            odir = retain_oracle(
                model_dir,
                world,
                split.forgotten,
                split.forget_sno,
                cache_dir=oracle_dir if oracle_dir is not None else _oracle_cache(),
                replicate=i,
            )
            wait = time.perf_counter() - t0
            model, _ = load_model(odir, world)
            oracles.append((odir, model, measure(model, world, split, seed=seed), wait))
            tick(f"retain oracle {i + 1} trained and measured")
        m_oracle = oracles[0][2]
        m_oracle2 = oracles[1][2] if len(oracles) > 1 else None
        for i, (odir, model, m, wait) in enumerate(oracles):
            name = "retain oracle" if i == 0 else f"retain oracle {i + 1} (noise floor)"
            rows.append(
                Row(
                    name,
                    summarize(m, m_oracle, m_orig, seed=seed, oracle2=m_oracle2),
                    attack(model),
                    training_seconds(odir),
                    {"oracle_dir": str(odir), "seconds_this_call": wait, "replicate": i},
                )
            )
            tick(f"retain oracle {i + 1} relearning attack")
    rows.insert(
        0,
        Row(
            "original",
            summarize(m_orig, m_oracle, m_orig, seed=seed, oracle2=m_oracle2),
            attack(original),
            training_seconds(model_dir),
        ),
    )
    tick("original relearning attack")
    for label, (m, rl, secs, info) in results.items():
        row = summarize(m, m_oracle, m_orig, seed=seed, oracle2=m_oracle2)
        rows.append(Row(label, row, rl, secs, info))
    return rows


def _oracle_cache() -> Path:
    """Where oracles are kept without ``oracle_dir``: ``<BEHEMOTH_CACHE>/oracles`` (the
    retain oracle takes its cache from the caller since f2e00f0)."""
    from behemoth.experiments.replicates import default_cache

    return default_cache() / "oracles"


def _stop_share(methods: dict[str, dict[str, Any]]) -> float | None:
    """The methods' common ``stop_share`` (None when every one runs a fixed budget): the
    forget facts their stopping rule watches are measured by none of them."""
    from behemoth.editors.unlearning.trainer import UnlearnConfig

    shares = set()
    for settings in methods.values():
        cfg = {k: v for k, v in settings.items() if k in UnlearnConfig.model_fields}
        c = UnlearnConfig.model_validate(cfg)
        if c.stop_when_forgotten:
            shares.add(c.stop_share)
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
    ap.add_argument("--oracle-dir", default=None)
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
        oracle_dir=args.oracle_dir,
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
