"""Same-subject specificity of the README demo table's editors, to compare before/after a change.

Runs ft, lora, rome, memit and alphaedit on the demo plan (single edit, 10 identical edits,
10 different edits) and writes, per editor and scenario, every specificity split with its n and
95% interval, plus efficacy, as JSON. Run once on the code before the change and once after,
then ``--compare A.json B.json`` prints the table side by side:

    PYTHONPATH=src python bench/leak_specificity.py --world W --model M --out before.json
    PYTHONPATH=src python bench/leak_specificity.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

EDITORS = ("ft", "lora", "rome", "memit", "alphaedit")
PLAN = (("single", "single", {}), ("10 identical", "k-identical", {"k": 10}),
        ("10 different", "k-different", {"k": 10}))  # fmt: skip


def measure(world_dir: str, model_dir: str, editors: list[str]) -> list[dict[str, Any]]:
    from behemoth.editors import build_editor
    from behemoth.evaluation.evaluate import reference_scores
    from behemoth.experiments.editing import run_edit
    from behemoth.model import load_model
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world import World

    world = World.load(world_dir)
    model, _ = load_model(model_dir, world)
    out: list[dict[str, Any]] = []
    for label, name, overrides in PLAN:
        scenario = build_scenario(world, name, overrides)
        ref = reference_scores(model, scenario)
        for ed_name in editors:
            editor = build_editor(ed_name)
            editor.prepare(model, world)
            run = run_edit(model, world, scenario, editor, ref, run=f"{ed_name}/{label}")
            for r in run.records.rows:
                if r.get("phase", "post") != "post" or r["group"] not in {
                    "specificity",
                    "efficacy",
                }:
                    continue
                if r["metric"] != r["group"]:  # the accuracy metric of the group
                    continue
                out.append(
                    {
                        "editor": ed_name,
                        "scenario": label,
                        "group": r["group"],
                        "metric": r["metric"],
                        "split": r["split"],
                        "value": r["value"],
                        "n": r.get("n"),
                        "ci_low": r.get("ci_low"),
                        "ci_high": r.get("ci_high"),
                    }
                )
            print(f"{ed_name:<10} {label:<13} done", flush=True)
    return out


def compare(a: list[dict[str, Any]], b: list[dict[str, Any]], split: str) -> str:
    key = ("editor", "scenario", "group", "metric", "split")
    bb = {tuple(r[k] for k in key): r for r in b}
    lines = [f"{'editor':<10} {'scenario':<13} {'metric':<9} {'before':>22} {'after':>22}   n"]
    for r in a:
        if r["split"] != split:
            continue
        s = bb.get(tuple(r[k] for k in key))
        fa = f"{r['value']:.3f} [{r['ci_low']:.3f},{r['ci_high']:.3f}]"
        fb = f"{s['value']:.3f} [{s['ci_low']:.3f},{s['ci_high']:.3f}]" if s else "-"
        lines.append(
            f"{r['editor']:<10} {r['scenario']:<13} {r['metric']:<9} {fa:>22} {fb:>22}   {r['n']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world")
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--editors", default=",".join(EDITORS))
    ap.add_argument("--compare", nargs=2)
    ap.add_argument("--split", default="same_subject")
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        print(compare(a, b, args.split))
        return
    if not (args.world and args.model and args.out):
        ap.error("--world, --model and --out are required (or --compare A B)")
    torch.set_num_threads(1)
    rows = measure(args.world, args.model, args.editors.split(","))
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print(compare(rows, rows, args.split))


if __name__ == "__main__":
    main()
