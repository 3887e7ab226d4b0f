"""The cost of reproducible training (``train.reproducible``, issue 20 point 6): tokens/s of
the training step in the default mode and in the reproducible mode (one thread, ATen's portable
kernels, MKL's compatible branch, oneDNN off, deterministic algorithms), side by side.

Each measurement is a fresh process (the mode's kernels are chosen once per process), the modes
alternate, ``--repeats`` each; prints the median tokens/s per preset and mode, the ratio, and the
sha256 prefix of the weights after the steps (equal across repeats of a mode: deterministic).
The default mode is timed on one thread as well as on ``--threads`` (its usual count), so the
ratio separates the kernels' cost from the thread's.

    .venv/bin/python bench/bench_reproducible.py [--presets tiny demo] [--steps 40]
        [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(preset: str, mode: str, steps: int, threads: int, world_dir: str) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import math

    from behemoth.threads import training_threads

    with training_threads(math.inf, threads, mode == "reproducible") as _:
        import torch
        from accelerate import Accelerator
        from safetensors.torch import save

        from behemoth.model import build_model, model_preset, resolve_run
        from behemoth.model.train import lr_factor, make_optimizer, train_step
        from behemoth.world import World

        world = World.load(world_dir)
        cfg = resolve_run(model_preset(preset), None, ["train.eval_every=100000"], None)
        t = cfg.train
        model = build_model(cfg.model, world.vocab_size, 0)
        acc = Accelerator(mixed_precision="no", cpu=True)
        opt = make_optimizer(model, cfg)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, t.warmup_steps, t.total_steps, t.min_lr_ratio)
        )
        sampler = world.sampler(t.seq_len, t.batch_size, source="stream")
        batches = [torch.as_tensor(sampler.next_batch()).long() for _ in range(steps + 2)]
        for b in batches[:2]:  # warm up
            train_step(acc, model, opt, sched, b, t.grad_clip, False)
        start = time.perf_counter()
        for b in batches[2:]:
            train_step(acc, model, opt, sched, b, t.grad_clip, False)
        seconds = time.perf_counter() - start
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        digest = hashlib.sha256(save(state)).hexdigest()[:12]
        print(
            json.dumps(
                {
                    "tokens_per_s": steps * t.tokens_per_step / seconds,
                    "threads": torch.get_num_threads(),
                    "capability": torch.backends.cpu.get_cpu_capability(),
                    "weights": digest,
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "demo"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="the default mode's usual threads")
    ap.add_argument("--world", default=None, help="a world directory (default: tiny, generated)")
    ap.add_argument("--child", nargs=4, metavar=("PRESET", "MODE", "THREADS", "WORLD"))
    args = ap.parse_args()
    if args.child:
        preset, mode, threads, world_dir = args.child
        child(preset, mode, args.steps, int(threads), world_dir)
        return

    world_dir = args.world
    if world_dir is None:
        from behemoth.world import WorldConfig, generate_world
        from behemoth.world.presets import world_preset

        world_dir = str(Path(tempfile.mkdtemp(prefix="bench_repro_")) / "world")
        generate_world(WorldConfig.from_dict(world_preset("tiny")), world_dir)

    modes = [("default", args.threads), ("default", 1), ("reproducible", 1)]
    res: dict[tuple[str, str, int], list[dict[str, float | str]]] = {}
    for rep in range(args.repeats):
        for preset in args.presets:
            for mode, threads in modes if rep % 2 == 0 else modes[::-1]:
                cmd = [sys.executable, __file__, "--steps", str(args.steps)]
                cmd += ["--child", preset, mode, str(threads), world_dir]
                env = {k: v for k, v in __import__("os").environ.items()}
                env.pop("BEHEMOTH_THREADS", None)
                env["BEHEMOTH_THREADS"] = str(threads) if mode == "default" else "1"
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                res.setdefault((preset, mode, threads), []).append(
                    json.loads(out.stdout.strip().splitlines()[-1])
                )
        print(f"  repeat {rep + 1}/{args.repeats} done", flush=True)

    print(f"\nmedian tokens/s over {args.repeats} fresh processes, {args.steps} steps each")
    print(f"{'preset':<8}{'mode':<14}{'threads':>8}{'kernels':>9}{'tokens/s':>11}{'weights':>14}")
    for preset in args.presets:
        for mode, threads in modes:
            rows = res[(preset, mode, threads)]
            tps = statistics.median(float(r["tokens_per_s"]) for r in rows)
            digests = sorted({str(r["weights"]) for r in rows})
            print(
                f"{preset:<8}{mode:<14}{threads:>8}{rows[0]['capability']!s:>9}{tps:>11.0f}"
                f"{'/'.join(digests):>14}"
            )
        repro = statistics.median(
            float(r["tokens_per_s"]) for r in res[(preset, "reproducible", 1)]
        )
        for threads in sorted({args.threads, 1}, reverse=True):
            base = statistics.median(
                float(r["tokens_per_s"]) for r in res[(preset, "default", threads)]
            )
            print(
                f"  {preset}: reproducible / default with {threads} thread(s): {repro / base:.2f}x"
            )


if __name__ == "__main__":
    main()
