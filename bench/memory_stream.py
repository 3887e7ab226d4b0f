"""Benchmark: one stream of sequential single edits, memory editors next to weight editors.

    .venv/bin/python bench/memory_stream.py --world W --model M --serac-nets N \
        --editors serac,grace,rome,memit,alphaedit,ft --n 1000 --eval-every 50 \
        --budget-minutes 40 --out runs/memory_stream

Every editor gets the same `stream` scenario (n edits of distinct subjects, batch 1, seed 0).
After each edit the edited prompt is scored once (immediate edit success) and the edit's wall
time is kept; every ``--eval-every`` edits the whole evaluation suite runs on the applied edits
(efficacy over all edits so far = retention, generalization, specificity, locality, drawdown).
An editor stops as soon as an edit ends past its time budget, with one last evaluation there
(so that slow weight editors report as many edits as fit, and every editor is evaluated). Rows go to ``OUT/<editor>.jsonl`` as they come (a killed run keeps
what it measured); ``bench/memory_report.py`` turns them into the table and the plot.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from behemoth.editors import EditContext, build_editor
from behemoth.editors.serac import SeracNets, check_disjoint
from behemoth.evaluation.evaluate import evaluate, reference_scores
from behemoth.model import load_model
from behemoth.model.scoring import score
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import Scenario, build_scenario
from behemoth.world import World

Step = Callable[[Any, EditRequest], Any]


def memory_of(model: Any) -> int:
    return int(getattr(model, "memory_bytes", 0))


def stepper(
    name: str, model: torch.nn.Module, world: World, scenario: Scenario, args: argparse.Namespace
) -> tuple[Any, Step]:
    """(initial model, one-edit function): every editor through the one editor contract, with
    the run's context (retain mix, lineage carried across the stream's edits)."""
    settings = json.loads(args.settings).get(name, {})
    if name == "serac" and args.serac_nets:
        settings = {"nets": args.serac_nets, **settings}
        check_disjoint(SeracNets.load(args.serac_nets), scenario)
    editor = build_editor(name, settings)
    context = EditContext.for_scenario(world, scenario)
    editor.prepare(model, context)
    return model, lambda cur, q: editor.apply(cur, [q], context).model


def budget_minutes(args: argparse.Namespace, name: str) -> float:
    """The editor's time budget: ``--budgets`` entry, else ``--budget-minutes``."""
    return float(json.loads(args.budgets).get(name, args.budget_minutes))


def run_editor(
    name: str,
    model: torch.nn.Module,
    world: World,
    scenario: Scenario,
    ref: dict[str, Any],
    args: argparse.Namespace,
) -> None:
    out = Path(args.out) / f"{name}.jsonl"
    t_start = time.perf_counter()
    current, step = stepper(name, model, world, scenario, args)
    prep = time.perf_counter() - t_start
    n = min(args.n, len(scenario.requests))
    with out.open("w") as f:

        def emit(row: dict[str, Any]) -> None:
            f.write(json.dumps({"editor": name, **row}) + "\n")
            f.flush()

        emit({"kind": "prepare", "seconds": prep})
        t_run = time.perf_counter()
        for i in range(n):
            q = scenario.requests[i]
            t0 = time.perf_counter()
            current = step(current, q)
            dt = time.perf_counter() - t0
            hit = int(score(current, [np.asarray(q.prompt)]).pred[0]) == q.target_new
            emit(
                {
                    "kind": "edit",
                    "edit": i,
                    "seconds": dt,
                    "success": bool(hit),
                    "memory_bytes": memory_of(current),
                }
            )
            over = time.perf_counter() - t_run > budget_minutes(args, name) * 60
            if (i + 1) % args.eval_every == 0 or i + 1 == n or over:
                t1 = time.perf_counter()
                rec = evaluate(current, world, scenario, ref, run=name, upto=i + 1)
                ev = time.perf_counter() - t1
                for r in rec.rows:
                    emit(
                        {
                            "kind": "metric",
                            "edits_applied": i + 1,
                            **{
                                k: r[k] for k in ("phase", "metric", "group", "split", "value", "n")
                            },
                            **{k: r[k] for k in ("ci_low", "ci_high") if k in r},
                        }
                    )
                emit({"kind": "eval", "edits_applied": i + 1, "seconds": ev})
                print(f"{name}: {i + 1} edits, {time.perf_counter() - t_run:.0f} s", flush=True)
                if over or time.perf_counter() - t_run > budget_minutes(args, name) * 60:
                    emit({"kind": "stopped", "edits_applied": i + 1, "reason": "time budget"})
                    break


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--serac-nets", default=None, help="networks from `behemoth train-serac`")
    p.add_argument("--editors", default="serac,grace,rome,memit,alphaedit,ft")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--specificity-size", type=int, default=500)
    p.add_argument("--budget-minutes", type=float, default=40.0)
    p.add_argument(
        "--budgets", default="{}", help='per-editor budgets in minutes, JSON {"ft": 15, ...}'
    )
    p.add_argument("--settings", default="{}", help='editor settings, JSON {"rome": {...}, ...}')
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    world = World.load(args.world)
    model, _ = load_model(args.model, world)
    scenario = build_scenario(
        world, "stream", {"n": args.n, "specificity_size": args.specificity_size}
    )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    ref = reference_scores(model, scenario)
    for name in args.editors.split(","):
        run_editor(name, model, world, scenario, ref, args)


if __name__ == "__main__":
    main()
