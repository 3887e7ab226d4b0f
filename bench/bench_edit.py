"""Benchmark: per-edit wall time of ROME, MEMIT (batches of 1, 10, 100) and AlphaEdit, and the
one-time cost (time, memory) of the second-moment statistics, on the `demo` and `pythia-31m`
geometries, side by side in one run.

    .venv/bin/python bench/bench_edit.py [--world-preset demo] [--models demo,pythia-31m]
                                         [--model DIR] [--stats-tokens 100000]

Without ``--model`` the models are freshly initialized (``behemoth.model.build``) with the
preset's geometry: costs depend on shapes, not on what the weights know, though an untrained
model never stops the target optimization early (an upper bound on the per-edit time). With
``--model DIR`` a trained model directory is measured instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from behemoth.config import resolve
from behemoth.editors import EditContext, build_editor
from behemoth.evaluation.cost import measure_cost
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World, WorldConfig, generate_world
from behemoth.world.presets import world_preset


def requests_for(world: World, n: int) -> list[EditRequest]:
    """``n`` distinct edits: k-different scenarios over the world's relations, concatenated."""
    out: list[EditRequest] = []
    per = max(1, min(world.config.objects // 2, n))
    rel = 0
    while len(out) < n and rel < world.config.relations:
        sc = build_scenario(
            world, "k-different", {"k": min(per, n - len(out)), "relation": rel}, seed=0
        )
        out += sc.requests
        rel += 1
    if len(out) < n:
        raise SystemExit(
            f"the world holds only {len(out)} distinct k-different edits; use a bigger world"
        )
    return out


def load_models(args: argparse.Namespace, world: World) -> dict[str, torch.nn.Module]:
    if args.model:
        from behemoth.model import load_model

        model, _ = load_model(args.model, world)
        return {Path(args.model).name: model}
    from behemoth.model.build import build_model
    from behemoth.model.config import RunConfig
    from behemoth.model.presets import model_preset

    out = {}
    for name in args.models.split(","):
        cfg = resolve(RunConfig, model_preset(name))
        out[name] = build_model(cfg.model, world.vocab_size, seed=0).eval()
    return out


def fmt_mb(n: int) -> str:
    return f"{n / 2**20:8.1f}"


def bench_model(
    name: str,
    model: torch.nn.Module,
    world: World,
    reqs: list[EditRequest],
    cache: Path,
    stats_tokens: int,
) -> list[dict[str, Any]]:
    """Time each editor on ``model``; statistics are kept under ``cache/stats`` (EditContext)."""
    rows = []
    common = {"mom2_n_tokens": stats_tokens}
    n_layers = model.config.num_hidden_layers
    layers = [n_layers // 2 - 1, n_layers // 2] if n_layers >= 3 else [n_layers - 1]
    # The one-time statistics: every MLP input the editors below use, one corpus pass.
    memit_cfg = {**common, "layers": layers}
    ed = build_editor("memit", memit_cfg)
    context = EditContext(world, cache=cache)
    with measure_cost() as cost:
        ed.prepare(model, context)
    rows.append(
        {
            "model": name,
            "what": "second moments (all edited layers)",
            "edits": 0,
            "total_s": cost.wall_time_s,
            "per_edit_s": float("nan"),
            "mem_increase": cost.memory_increase_bytes,
            "peak": cost.peak_memory_bytes,
        }
    )
    plan: list[tuple[str, dict[str, Any], int]] = [
        ("rome", {**common, "layer": layers[-1]}, 1),
        ("memit", memit_cfg, 1),
        ("memit", memit_cfg, 10),
        ("memit", memit_cfg, 100),
        ("alphaedit", memit_cfg, 1),
        ("alphaedit", memit_cfg, 10),
        ("alphaedit", memit_cfg, 100),
    ]
    for editor_name, cfg, batch in plan:
        editor = build_editor(editor_name, cfg)
        context = EditContext(world, cache=cache)  # a fresh lineage for each editor
        editor.prepare(
            model, context
        )  # statistics from the cache (AlphaEdit: + eigendecomposition)
        reps = 3 if batch == 1 else 1
        total, mem, peak = 0.0, 0, 0
        for r in range(reps):
            chunk = reqs[r * batch : (r + 1) * batch]
            with measure_cost() as cost:
                editor.apply(model, chunk, context)
            total += cost.wall_time_s
            mem, peak = max(mem, cost.memory_increase_bytes), max(peak, cost.peak_memory_bytes)
        rows.append(
            {
                "model": name,
                "what": f"{editor_name} batch {batch}",
                "edits": batch * reps,
                "total_s": total,
                "per_edit_s": total / (batch * reps),
                "mem_increase": mem,
                "peak": peak,
            }
        )
        print(f"  {name}: {rows[-1]['what']} done in {total:.2f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--world-preset", default="demo")
    ap.add_argument("--models", default="demo,pythia-31m", help="model presets (fresh weights)")
    ap.add_argument("--model", default=None, help="a trained model directory instead")
    ap.add_argument("--stats-tokens", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        world = generate_world(
            WorldConfig.from_dict(world_preset(args.world_preset)),
            Path(tmp) / "world",
            shards=False,
        )
        print(f"world {args.world_preset}: {time.perf_counter() - t0:.1f} s")
        reqs = requests_for(world, 100)
        rows = []
        for name, model in load_models(args, world).items():
            n_params = sum(p.numel() for p in model.parameters())
            print(f"model {name}: {n_params / 1e6:.2f}M parameters", flush=True)
            rows += bench_model(name, model, world, reqs, Path(tmp), args.stats_tokens)
    print(
        f"\n{'model':<12} {'what':<36} {'edits':>5} {'total s':>8} {'s/edit':>8} {'+MB':>8} {'peak MB':>8}"
    )
    base: dict[str, float] = {}
    for r in rows:
        print(
            f"{r['model']:<12} {r['what']:<36} {r['edits']:>5} {r['total_s']:>8.2f} {r['per_edit_s']:>8.3f} "
            f"{fmt_mb(r['mem_increase'])} {fmt_mb(r['peak'])}"
        )
        if r["what"] == "rome batch 1":
            base[r["model"]] = r["per_edit_s"]
    print("\nper-edit time relative to ROME (same model):")
    for r in rows:
        if r["edits"] and r["model"] in base:
            print(f"  {r['model']:<12} {r['what']:<24} x{r['per_edit_s'] / base[r['model']]:.2f}")


if __name__ == "__main__":
    main()
