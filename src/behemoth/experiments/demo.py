"""The end-to-end demo: a world, a model that knows it, every weight editor, one table.

``behemoth demo --out DIR`` generates the ``demo`` world, trains the ``demo`` model on it (both
reused when already there with the same config), then applies every registered weight editor
to a single edit, 10 identical edits and 10 different edits, and prints efficacy /
generalization / specificity / locality per editor and scenario. ``quick`` uses the ``tiny``
presets (seconds; used by the tests). Each (editor, scenario) is one
:func:`~behemoth.experiments.run.run_experiment` into ``DIR/runs/EDITOR-SCENARIO``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behemoth.config import resolve
from behemoth.editors import editor_names
from behemoth.evaluation.records import Records
from behemoth.experiments.config import ExperimentConfig
from behemoth.experiments.run import run_experiment
from behemoth.io import atomic_dir, write_json
from behemoth.model import RunConfig, load_model, model_preset, read_model_meta, train_model
from behemoth.provenance import write_provenance
from behemoth.world import World, WorldConfig, generate_world, world_preset

log = logging.getLogger(__name__)


def scenarios(quick: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, scenario name, overrides) applied by the demo (smaller K for the tiny world)."""
    k = 4 if quick else 10
    return [
        ("single", "single", {}),
        (f"{k} identical", "k-identical", {"k": k}),
        (f"{k} different", "k-different", {"k": k}),
    ]


COLUMNS = ("efficacy", "generalization", "specificity", "locality", "efficacy_score")


@dataclass
class DemoResult:
    world: World
    model_dir: Path
    records: Records
    table: str


def _world(out: Path, quick: bool) -> World:
    cfg = WorldConfig.from_dict(world_preset("tiny" if quick else "demo"))
    return generate_world(cfg, out / "world", shards=False)


def _model(world: World, out: Path, quick: bool) -> Path:
    cfg = resolve(RunConfig, model_preset("tiny" if quick else "demo"))
    d = out / "model"
    if (d / "behemoth_model.json").is_file():
        meta = read_model_meta(d)
        if meta["world"]["fingerprint"] == world.fingerprint and meta["config"] == cfg.to_dict():
            log.info("model: reusing %s (same world and config)", d)
            return d
    return train_model(world, cfg, d, force=True)


def _fmt(v: float) -> str:
    return "   -  " if math.isnan(v) else f"{v:6.3f}"


def _value(rec: Records, metric: str) -> float:
    try:
        return rec.value(metric)
    except KeyError:
        return float("nan")


def run_demo(
    out: str | Path, *, quick: bool = False, editors: list[str] | None = None
) -> DemoResult:
    """Run the demo into ``out`` (world/, model/, results/) and return the table."""
    out = Path(out)
    t0 = time.perf_counter()
    world = _world(out, quick)
    print(world.summary())
    model_dir = _model(world, out, quick)
    meta = read_model_meta(model_dir)
    res = meta["result"]
    print(f"\nmodel: {model_dir}  ({meta['params']:,} parameters)")
    print(f"  {res['stopped']}; {res['tokens']:,} tokens")
    print("  final accuracy: " + ", ".join(f"{k} {v['acc']:.3f}" for k, v in res["final"].items()))
    model, _ = load_model(model_dir, world)

    names = editors or editor_names()
    all_records = Records()
    lines = [
        f"{'editor':<10} {'scenario':<13} "
        + " ".join(f"{c[:14]:>14}" for c in COLUMNS)
        + "  seconds"
    ]
    plan = scenarios(quick)
    for label, scen_name, overrides in plan:
        for name in names:
            config = ExperimentConfig(
                model=str(model_dir),
                world=str(world.path),
                scenario=scen_name,
                scenario_settings=overrides,
                editor=name,
                save_artifact=False,
            )
            slug = label.replace(" ", "-")
            res = run_experiment(
                config, out / "runs" / f"{name}-{slug}", force=True, loaded=(model, world)
            )
            for r in res.records.rows:
                r["scenario_label"] = label
            all_records.extend(res.records)
            vals = " ".join(f"{_fmt(_value(res.records, c)):>14}" for c in COLUMNS)
            secs = sum(b["wall_seconds"] for sr in res.runs for b in sr.run.batches)
            lines.append(f"{name:<10} {label:<13} {vals}  {secs:7.2f}")
            print(lines[-1] if len(lines) > 2 else "\n" + "\n".join(lines))
    table = "\n".join(lines)
    with atomic_dir(out / "results", force=True, marker="records.parquet") as tmp:
        all_records.write(tmp)
        (tmp / "table.txt").write_text(table + "\n")
        write_json(
            tmp / "demo.json",
            {
                "quick": quick,
                "editors": names,
                "scenarios": [list(s) for s in plan],
                "world": world.fingerprint,
                "model": str(model_dir),
            },
        )
        write_provenance(tmp, {"seconds": round(time.perf_counter() - t0, 3)})
    print(
        f"\nresults: {out / 'results'} (records.parquet, records.jsonl, items.parquet, table.txt)"
    )
    print(f"demo done in {time.perf_counter() - t0:.0f} s")
    return DemoResult(world, model_dir, all_records, table)
