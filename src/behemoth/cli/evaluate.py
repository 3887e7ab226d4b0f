"""``behemoth evaluate``: score a model on its world's probes and on an edit scenario's tests."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from behemoth.cli.common import add_out_args, add_set_arg, int_at_least
from behemoth.io import atomic_dir, check_out, write_json
from behemoth.provenance import write_provenance
from behemoth.scenarios.jsonl import export_jsonl
from behemoth.scenarios.scenario import build_scenario, scenario_names
from behemoth.world.world import World


def _epilog() -> str:
    from behemoth.scenarios.scenario import ScenarioConfig, get_scenario

    common = list(ScenarioConfig.model_fields)
    lines = ["scenarios and their settings (--scenario.KEY VALUE; behemoth scenarios NAME):"]
    for name in scenario_names():
        spec = get_scenario(name)
        own = [k for k in spec.config.model_fields if k not in common]
        lines.append(f"  {name:<16} {spec.description}")
        lines.append(f"  {'':<16} keys: {', '.join(own) or '-'}")
    lines.append(f"every scenario also takes: {', '.join(common)}")
    no_bands = [n for n in scenario_names() if not get_scenario(n).config.bands]
    lines.append(f"  (exposure: not {', '.join(no_bands)})")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model on every probe of its world and on an edit scenario's test sets",
        description="A model directory written by `behemoth train` records its world; other "
        "Hugging Face model directories need --world.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a model directory")
    p.add_argument(
        "--world", default=None, help="the world directory (default: the one the model records)"
    )
    p.add_argument(
        "--scenario",
        default="k-different",
        help="edit scenario whose tests to run (default k-different)",
    )
    add_set_arg(
        p,
        "deprecated: write --scenario.KEY VALUE, e.g. --scenario.k 20",
        flag="--set",
        dest="overrides",
    )
    p.add_argument("--seed", type=int, default=None, help="the scenario's seed")
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=1024, help="prompts per forward pass"
    )
    add_out_args(p, required=False)
    p.set_defaults(func=run)


def evaluate_results(rec: Any, scenario: Any, world: World, model: str) -> dict[str, Any]:
    """The ``results.json`` of an evaluation (:mod:`behemoth.experiments.results_json`): the
    unedited model's figures per test set, and its accuracy per probe set."""
    from behemoth.experiments.results_json import results_dict

    probes = {
        r["split"]: {
            "value": r["value"],
            "n": r["n"],
            "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"),
            "interval": r.get("interval"),
        }
        for r in rec.rows
        if r["metric"] == "probe_accuracy"
    }
    config = {
        "model": str(Path(model).resolve()),
        "world": world.fingerprint,
        "scenario": scenario.name,
        "scenario_settings": scenario.config,
    }
    seed = scenario.config.get("seed") if isinstance(scenario.config, dict) else None
    return results_dict(
        rec.rows, config=config, seeds=[seed], kind="evaluate", extra={"probe_accuracy": probes}
    )


def load_any_model(directory: str, world_arg: str | None) -> tuple[Any, World]:
    """See :func:`behemoth.experiments.load.load_any_model` (imported when called)."""
    from behemoth.experiments.load import load_any_model as load

    return load(directory, world_arg)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.cli.common import model_world
    from behemoth.config import resolve
    from behemoth.evaluation.evaluate import evaluate, evaluate_probes
    from behemoth.experiments.summary import describe_unedited
    from behemoth.scenarios.scenario import get_scenario

    inputs = {
        "MODEL": args.model,
        "--world": args.world or model_world(args.model),  # else the model's own world
    }
    if args.out:
        check_out(args.out, args.force, "records.parquet", inputs=inputs)
    spec = get_scenario(args.scenario)  # name and keys checked before any model is loaded
    resolve(spec.config, None, None, args.overrides, args.seed)
    hf_logging.disable_progress_bar()
    model, world = load_any_model(args.model, args.world)
    scenario = build_scenario(world, args.scenario, args.overrides, args.seed)
    run_name = Path(args.model).resolve().name
    t0 = time.perf_counter()
    rec = evaluate_probes(model, world, run=run_name, batch_size=args.batch_size)
    rec.extend(evaluate(model, world, scenario, run=run_name, batch_size=args.batch_size))
    seconds = time.perf_counter() - t0
    print(scenario.summary())
    print()
    print(describe_unedited(rec, scenario, args.model))
    n = sum(len(p) for p in world.probes.values()) + sum(len(t) for t in scenario.tests.values())
    print(f"\n{n:,} prompts scored in {seconds:.2f} s")
    if args.out:
        with atomic_dir(args.out, force=args.force, marker="records.parquet", inputs=inputs) as tmp:
            rec.write(tmp)
            write_json(
                tmp / "scenario.json",
                {
                    "name": scenario.name,
                    "mode": scenario.mode,
                    "config": scenario.config,
                    "world": world.fingerprint,
                    "model": str(Path(args.model).resolve()),
                    "tests": {k: len(t) for k, t in scenario.tests.items()},
                },
            )
            write_json(tmp / "results.json", evaluate_results(rec, scenario, world, args.model))
            export_jsonl(scenario, world, tmp / "scenario.jsonl")
            write_provenance(tmp, {"seconds": round(seconds, 3)})
        print(f"  written to {args.out}: results.json (the figures above, config, versions),")
        print(
            "  records.parquet + items.parquet (every metric; behemoth.results.load), "
            "scenario.jsonl (the test prompts)"
        )
    else:
        print("  nothing written: --out DIR keeps results.json, the records and the test prompts")
    return 0
