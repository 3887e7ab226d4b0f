"""Re-choosing an editor's defaults on a validation seed that is never reported.

Grid over ``--grid key=v1,v2 ...`` of one editor's settings, applied to scenarios built with a
validation seed (default 1000; reported results use seeds 0..999), scored by the harmonic mean
of efficacy, same-subject specificity and same-relation specificity (accuracy, post-edit), each
on its own split. Prints one line per setting and the best; nothing here is a reported figure.

    PYTHONPATH=src python bench/editor_defaults.py --world W --model M --editor memit \\
        --grid kl_factor=0.0625,0.25,1.0 clamp_norm_factor=0.75,1.25
"""

from __future__ import annotations

import argparse
import itertools
import json
from typing import Any

import torch

#: (scenario, overrides) of the validation runs: one batch of different edits, one of identical.
VALIDATION = (("k-different", {"k": 10}), ("k-identical", {"k": 10}))
SPLITS = (("efficacy", None), ("specificity", "same_subject"), ("specificity", "same_relation"))


def _value(records: Any, metric: str, split: str | None) -> float:
    rows = [
        r
        for r in records.rows
        if r["metric"] == metric
        and r.get("phase", "post") == "post"
        and (split is None or r["split"] == split)
    ]
    n = sum(int(r["n"]) for r in rows)
    return sum(float(r["value"]) * int(r["n"]) for r in rows) / n if n else float("nan")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--editor", required=True)
    ap.add_argument("--grid", nargs="+", required=True, help="key=v1,v2,...")
    ap.add_argument("--seed", type=int, default=1000, help="validation scenario seed (>= 1000)")
    args = ap.parse_args(argv)
    if args.seed < 1000:
        ap.error("--seed: validation seeds are >= 1000 (0..999 are for reported runs)")
    from behemoth.editors import build_editor
    from behemoth.evaluation.evaluate import reference_scores
    from behemoth.experiments.editing import run_edit
    from behemoth.model import load_model
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world import World

    torch.set_num_threads(1)
    world = World.load(args.world)
    model, _ = load_model(args.model, world)
    keys, values = [], []
    for item in args.grid:
        k, _, vs = item.partition("=")
        keys.append(k)
        values.append([json.loads(v) for v in vs.split(",")])
    scenarios = [build_scenario(world, n, o, seed=args.seed) for n, o in VALIDATION]
    refs = [reference_scores(model, sc) for sc in scenarios]
    out: list[dict[str, Any]] = []
    for combo in itertools.product(*values):
        settings = dict(zip(keys, combo))
        figures: dict[str, float] = {}
        for (name, _), sc, ref in zip(VALIDATION, scenarios, refs):
            editor = build_editor(args.editor, settings)
            editor.prepare(model, world)
            run = run_edit(model, world, sc, editor, ref, run="validation")
            for metric, split in SPLITS:
                figures[f"{name}:{metric}/{split or 'all'}"] = _value(run.records, metric, split)
        vals = [v for v in figures.values() if v == v]
        hmean = len(vals) / sum(1.0 / max(v, 1e-9) for v in vals) if vals else float("nan")
        out.append({"settings": settings, "figures": figures, "hmean": hmean})
        print(
            f"{json.dumps(settings):<48} hmean {hmean:.3f}  "
            + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()),
            flush=True,
        )
    best = max(out, key=lambda r: r["hmean"])
    print(f"best: {json.dumps(best['settings'])} (hmean {best['hmean']:.3f})")
    return out


if __name__ == "__main__":
    main()
