"""Evaluation benchmark: probes/s of the batched suite next to a naive one-prompt-at-a-time loop.

Both are measured in the same run, on the same model and prompts: every probe of the ``demo``
world (all formats), scored by :func:`behemoth.evaluation.evaluate.evaluate_probes` (one batched
pass, prompts of equal length stacked, last position's logits only), and the naive loop (one
forward per prompt, full logits) on a sample of the same prompts. Then a whole scenario
(``k-different`` with every untouched fact of the world as specificity) through ``evaluate``.

The model is a trained behemoth model if ``--model DIR`` is given, else the ``demo`` model
preset's geometry with fresh weights (same cost per forward pass).

    .venv/bin/python bench/bench_evaluate.py
    .venv/bin/python bench/bench_evaluate.py --model runs/demo-model --naive 2000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--model", default=None, help="a trained model directory (default: demo geometry, fresh)"
    )
    ap.add_argument(
        "--world", default=None, help="a world directory (default: generate the demo world)"
    )
    ap.add_argument("--naive", type=int, default=1000, help="prompts timed in the naive loop")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from behemoth.config import resolve
    from behemoth.evaluation.evaluate import evaluate, evaluate_probes
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.scenarios.testset import concat_probes
    from behemoth.world import World, WorldConfig, generate_world
    from behemoth.world.presets import world_preset

    tmp = None
    if args.model:
        from behemoth.model import load_model, read_model_meta

        meta = read_model_meta(args.model)
        world = World.load(args.world or meta["world"]["path"])
        model, _ = load_model(args.model, world)
    else:
        from behemoth.model import RunConfig, build_model, model_preset

        if args.world:
            world = World.load(args.world)
        else:
            tmp = tempfile.TemporaryDirectory()
            world = generate_world(
                WorldConfig.from_dict(world_preset("demo")), Path(tmp.name) / "demo", shards=False
            )
        cfg = resolve(RunConfig, model_preset("demo"))
        model = build_model(cfg.model, world.vocab_size, seed=0).eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"world {world.fingerprint}: {world.config.subjects} subjects x {world.config.relations} relations; "
        f"model {n_params / 1e6:.2f}M parameters, torch threads {torch.get_num_threads()}"
    )

    allp = concat_probes(list(world.probes.values()))
    n = len(allp)
    evaluate_probes(model, world, batch_size=args.batch_size)  # warm-up
    t0 = time.perf_counter()
    rec = evaluate_probes(model, world, batch_size=args.batch_size)
    t_batched = time.perf_counter() - t0
    rate_b = n / t_batched

    rng = np.random.default_rng(0)
    rows = rng.choice(n, size=min(args.naive, n), replace=False)
    hits_naive = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in rows:
            ids = torch.from_numpy(allp.prompt(int(i)).astype(np.int64))[None]
            pred = int(model(input_ids=ids).logits[0, -1].argmax())
            hits_naive += pred == allp.answer[i]
    t_naive = time.perf_counter() - t0
    rate_n = len(rows) / t_naive

    print(f"\nevery probe of the world: {n:,} prompts in {len(world.probes)} sets")
    print(f"  batched (evaluate_probes)   {t_batched:8.2f} s  {rate_b:10,.0f} probes/s")
    print(
        f"  naive, one prompt per call  {t_naive:8.2f} s  {rate_n:10,.0f} probes/s  ({len(rows):,} prompts)"
    )
    print(f"  ratio batched / naive       {rate_b / rate_n:8.1f} x")
    print(f"  naive loop on all probes would take ~{n / rate_n:,.0f} s")
    acc = {r["split"]: r["value"] for r in rec.rows}
    print("  accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))

    t0 = time.perf_counter()
    sc = build_scenario(world, "k-different", {"k": 10})
    t_build = time.perf_counter() - t0
    n_tests = sum(len(t) for t in sc.tests.values())
    t0 = time.perf_counter()
    rec = evaluate(model, world, sc, reference_model=model, batch_size=args.batch_size)
    t_eval = time.perf_counter() - t0
    print(
        f"\nscenario k-different (k=10, whole-world specificity): built in {t_build:.2f} s; "
        f"{n_tests:,} test prompts x 2 models evaluated in {t_eval:.2f} s "
        f"({2 * n_tests / t_eval:,.0f} probes/s), {len(rec.rows)} records"
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
