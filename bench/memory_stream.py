"""Benchmark: one stream of sequential single edits, memory editors next to weight editors.

    .venv/bin/python bench/memory_stream.py --world W --model M --serac-nets N \
        --nets '{"serac-sro": "N_SRO"}' --editors serac,serac-sro,grace,rome,memit,alphaedit,ft \
        --n 200 --eval-every 50 --budget-minutes 2 --out runs/memory_stream/MODEL_ID

Every editor gets the same `stream` scenario (n edits of distinct subjects, batch 1, seed 0).
After each edit the edited prompt is scored once (immediate edit success) and the edit's wall
time is kept; every ``--eval-every`` edits (and at each ``--eval-at`` count) the whole evaluation suite runs on the applied edits
(efficacy over all edits so far = retention, generalization, specificity, locality, drawdown).
An editor stops as soon as an edit ends past its time budget, with one last evaluation there
(so that slow weight editors report as many edits as fit, and every editor is evaluated). Rows go to ``OUT/<label>.jsonl`` as they come (a killed run keeps
what it measured); ``bench/memory_report.py`` turns them into the table and the plot, and
``bench/memory_replicates.py`` aggregates runs of several trained models.

A label names an editor, optionally with a variant after a dash: ``serac-sro`` is the ``serac``
editor with the networks ``--nets`` gives for that label (e.g. trained with ``formats: [sro]``).
The first row (``kind: prepare``) records the model directory, its replicate index and the
machine's load average, so that seconds can be read as ratios between editors of one run.
"""

from __future__ import annotations

import argparse
import json
import os
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


def editor_of(label: str) -> str:
    """The registered editor behind a label: the part before the first dash
    (``serac-sro`` -> ``serac``)."""
    return label.split("-", 1)[0]


def nets_of(label: str, args: argparse.Namespace) -> str | None:
    """SERAC networks for a label: its ``--nets`` entry, else ``--serac-nets`` for ``serac``."""
    given = json.loads(args.nets).get(label)
    if given is not None:
        return str(given)
    return args.serac_nets if label == "serac" else None


def model_meta(model_dir: str) -> dict[str, Any]:
    """The model's directory name and its training seed (``behemoth_model.json``; replicate i
    of a recipe is trained with seed i, ``RunConfig.replicate``)."""
    meta: dict[str, Any] = {"model": Path(model_dir).resolve().name}
    f = Path(model_dir) / "behemoth_model.json"
    if f.exists():
        meta["seed"] = json.loads(f.read_text()).get("seed")
    return meta


def eval_at(text: str) -> set[int]:
    """The ``--eval-at`` edit counts: ``"5,10,25"`` -> {5, 10, 25}; positive integers only."""
    counts = {int(x) for x in text.split(",") if x.strip()}
    if any(c < 1 for c in counts):
        raise SystemExit("--eval-at: edit counts must be positive integers, e.g. 5,10,25")
    return counts


def stepper(
    name: str, model: torch.nn.Module, world: World, scenario: Scenario, args: argparse.Namespace
) -> tuple[Any, Step]:
    """(initial model, one-edit function): every editor through the one editor contract, with
    the run's context (retain mix, lineage carried across the stream's edits)."""
    settings = json.loads(args.settings).get(name, {})
    nets = nets_of(name, args)
    if editor_of(name) == "serac" and nets:
        settings = {"nets": nets, **settings}
        check_disjoint(SeracNets.load(nets), scenario)
    editor = build_editor(editor_of(name), settings)
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
    extra = eval_at(args.eval_at)
    with out.open("w") as f:

        def emit(row: dict[str, Any]) -> None:
            f.write(json.dumps({"editor": name, **row}) + "\n")
            f.flush()

        emit(
            {
                "kind": "prepare",
                "seconds": prep,
                **model_meta(args.model),
                "nets": nets_of(name, args),
                "budget_minutes": budget_minutes(args, name),
                "loadavg": list(os.getloadavg()),
            }
        )
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
            if (i + 1) % args.eval_every == 0 or i + 1 in extra or i + 1 == n or over:
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
                emit(
                    {
                        "kind": "eval",
                        "edits_applied": i + 1,
                        "seconds": ev,
                        "loadavg": list(os.getloadavg()),
                    }
                )
                print(f"{name}: {i + 1} edits, {time.perf_counter() - t_run:.0f} s", flush=True)
                if over or time.perf_counter() - t_run > budget_minutes(args, name) * 60:
                    emit({"kind": "stopped", "edits_applied": i + 1, "reason": "time budget"})
                    break


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--serac-nets", default=None, help="networks from `behemoth train-serac`")
    p.add_argument(
        "--nets", default="{}", help='SERAC networks per label, JSON {"serac-sro": DIR, ...}'
    )
    p.add_argument("--editors", default="serac,grace,rome,memit,alphaedit,ft")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument(
        "--eval-at",
        default="",
        help="further edit counts to evaluate at, e.g. 5,10,25 (early points that editors "
        "stopped by their budget before --eval-every all reach)",
    )
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
