"""Training throughput of the model presets next to this machine's matmul throughput.

For each preset (default: tiny, demo, pythia-31m) on the ``demo`` world's corpus (rendered in
memory, nothing written), times the training loop's own step function
(:func:`behemoth.model.train.train_step`) and prints tokens/s and achieved FLOP/s
(6 N + 6 L T d per token, Kaplan et al. 2020), beside the fp32 matmul FLOP/s measured in the
same run; the ratio is the figure. ``--malloc`` repeats the presets after raising glibc's
mmap/trim thresholds (mallopt), which stops it from mapping and unmapping the large activation
buffers every step. ``--profile NAME`` prints torch.profiler's table for one preset.

``--learning WORLD...`` measures learning efficiency instead: it generates each world (``demo``,
or ``paper-cpu`` = the paper's shape at CPU scale, 2,000 subjects x 6 relations x 400 objects),
trains the ``--model`` preset on it with the real training loop and prints the tokens (and
epochs, seconds) needed to reach 50/90/95/99% on the training template: the figure that later
changes must not regress. A preset name may carry its own overrides, ``NAME@KEY=VALUE,...``, to
time a variant beside its preset in one run.

    .venv/bin/python bench/bench_train.py [--presets tiny demo pythia-31m] [--precision fp32]
        [--steps 30] [--threads 2] [--malloc] [--profile pythia-31m]
    .venv/bin/python bench/bench_train.py --presets demo \
        demo@model.width=64,model.heads=4,model.mlp=256 --thread-counts 1 2 --malloc
    .venv/bin/python bench/bench_train.py --learning demo paper-cpu [--model demo] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from behemoth.model import (
    build_model,
    count_params,
    model_preset,
    resolve_run,
    train_flops_per_token,
)
from behemoth.model.malloc import keep_freed_memory
from behemoth.model.train import lr_factor, make_optimizer, train_step
from behemoth.world import WorldConfig, sample_graph, world_preset
from behemoth.world.corpus import Corpus
from behemoth.world.sampler import StreamSampler
from behemoth.world.vocab import Vocabulary

#: The clock every figure is timed with: wall time, or this process's CPU time (``--clock
#: cpu``), which on a machine shared with other jobs counts only the time this process ran and
#: so gives load-independent ratios (with one thread; with more it also counts spin-waiting).
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def matmul_flops(seconds: float = 1.5) -> float:
    """Best fp32 GEMM throughput over a few square sizes (FLOP/s)."""
    best = 0.0
    for n in (256, 512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b
        reps, t0 = 0, clock()
        times = []
        while clock() - t0 < seconds / 3:
            t = clock()
            a @ b
            times.append(clock() - t)
            reps += 1
        best = max(best, 2 * n**3 / statistics.median(times))
    return best


def bench_preset(
    name: str,
    corpus: Corpus,
    vocab_size: int,
    steps: int,
    precision: str,
    profile: bool = False,
    overrides: tuple[str, ...] = (),
) -> dict[str, float]:
    preset, _, own = name.partition("@")  # "demo@model.width=64,model.heads=4": a variant
    sets = [f"train.precision={precision}", *overrides, *(x for x in own.split(",") if x)]
    cfg = resolve_run(model_preset(preset), None, sets)
    t = cfg.train
    acc = Accelerator(mixed_precision="no")
    model = build_model(cfg.model, vocab_size, cfg.seed)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, t.warmup_steps, t.total_steps, 0.1)
    )
    model, opt = acc.prepare(model, opt)
    model.train()
    sampler = StreamSampler(corpus, t.seq_len, t.batch_size)
    bf16 = precision == "bf16"
    for _ in range(3):  # warm up allocator and kernels
        train_step(
            acc, model, opt, sched, torch.from_numpy(sampler.next_batch()), t.grad_clip, bf16
        )
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as prof

        with prof(activities=[ProfilerActivity.CPU]) as p:
            for _ in range(steps):
                train_step(
                    acc,
                    model,
                    opt,
                    sched,
                    torch.from_numpy(sampler.next_batch()),
                    t.grad_clip,
                    bf16,
                )
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    times = []
    data_s = 0.0
    for _ in range(steps):
        t0 = clock()
        batch = torch.from_numpy(sampler.next_batch())
        t1 = clock()
        train_step(acc, model, opt, sched, batch, t.grad_clip, bf16)
        times.append(clock() - t0)
        data_s += t1 - t0
    step_s = statistics.median(times)
    tps = t.tokens_per_step / step_s
    fpt = train_flops_per_token(cfg.model, vocab_size, t.seq_len)
    return {
        "params": count_params(model),
        "tokens_per_step": t.tokens_per_step,
        "tok_s": tps,
        "flops": fpt * tps,
        "data_share": data_s / sum(times),
    }


LEARNING_WORLDS = {
    "demo": {},
    "demo-300": {"subjects": 300},  # a quarter of the demo world: recipe comparisons in minutes
    # one pass = each fact once, a fresh order per pass (exposures equal across facts at every
    # pass boundary; with repeats 100 they vary by ~5 around 68 at 68 epochs)
    "demo-r1": {"repeats": 1},
    "demo-300-r1": {"subjects": 300, "repeats": 1},
    "paper-cpu": {"subjects": 2000, "relations": 6, "objects": 400, "repeats": 100},
}


def bench_learning(worlds: list[str], model: str, out: Path, overrides: list[str]) -> None:
    from behemoth.model import load_model, read_model_meta, train_model
    from behemoth.model.evaluate import probe_metrics
    from behemoth.world import generate_world

    print(f"learning efficiency of model preset {model!r} {' '.join(overrides)}")
    for name in worlds:
        base = world_preset("demo") if name in LEARNING_WORLDS else world_preset(name)
        wcfg = WorldConfig.from_dict({**base, **LEARNING_WORLDS.get(name, {})})
        world = generate_world(wcfg, out / f"world-{name}", shards=False, force=True)
        facts = wcfg.subjects * wcfg.relations
        cfg = resolve_run(model_preset(model), None, overrides)
        t0 = time.perf_counter()
        mdir = train_model(world, cfg, out / f"model-{name}", force=True)
        seconds = time.perf_counter() - t0
        meta = read_model_meta(mdir)
        log = [json.loads(x) for x in (mdir / "train_log.jsonl").read_text().splitlines()]
        timeline = dict(
            (int(a), b) for a, b in json.loads((mdir / "provenance.json").read_text())["timeline"]
        )
        target = meta["result"]["target_set"]
        print(
            f"\nworld {name}: {wcfg.subjects} x {wcfg.relations} x {wcfg.objects} = {facts:,} facts, "
            f"{meta['params']:,} parameters, {seconds:.0f} s in all"
        )
        for thr in (0.5, 0.9, 0.95, 0.99):
            hit = next((r for r in log if r["sets"][target]["acc"] >= thr), None)
            if hit is None:
                print(f"  {thr:.0%}: not reached in {log[-1]['tokens']:,} tokens")
                continue
            print(
                f"  {thr:.0%}: {hit['tokens']:>12,} tokens = {hit['epochs']:6.1f} epochs "
                f"({hit['tokens'] / facts:,.0f} tokens per fact), {timeline[hit['step']]:6.0f} s"
            )
        print(
            "  final: "
            + "  ".join(f"{k} {v['acc']:.3f}" for k, v in meta["result"]["final"].items())
        )
        model, _ = load_model(mdir, world)
        t0 = time.perf_counter()
        probe_metrics(model, world.probes, list(world.probes))
        n = sum(len(p) for p in world.probes.values())
        print(f"  one evaluation of all {n:,} probes: {time.perf_counter() - t0:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "demo", "pythia-31m"])
    ap.add_argument(
        "--world", default="demo", help="world preset whose corpus and vocabulary are used"
    )
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument(
        "--clock",
        choices=list(CLOCK),
        default="wall",
        help="time with wall clock or process CPU time (load-independent with 1 thread)",
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--thread-counts", type=int, nargs="+", default=None, help="measure at each thread count"
    )
    ap.add_argument(
        "--malloc", action="store_true", help="also measure with raised glibc malloc thresholds"
    )
    ap.add_argument("--profile", default=None, help="print a torch.profiler table for this preset")
    ap.add_argument(
        "--learning", nargs="+", default=None, help="worlds: measure tokens to 99%% instead"
    )
    ap.add_argument("--model", default="demo", help="model preset for --learning")
    ap.add_argument(
        "--set", dest="overrides", action="append", default=[], help="KEY=VALUE, for every preset"
    )
    ap.add_argument("--out", default="/tmp/behemoth-bench-train", help="--learning: where to write")
    args = ap.parse_args()
    global clock
    clock = CLOCK[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.learning:
        bench_learning(args.learning, args.model, Path(args.out), args.overrides)
        return
    wcfg = WorldConfig.from_dict(world_preset(args.world))
    vocab = Vocabulary.from_config(wcfg)
    corpus = Corpus(wcfg, sample_graph(wcfg), vocab)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, world {args.world} "
        f"(vocabulary {vocab.size}), precision {args.precision}, median of {args.steps} steps, {args.clock} clock"
    )
    if args.profile:
        bench_preset(args.profile, corpus, vocab.size, args.steps, args.precision, profile=True)
        return
    rounds = [("default malloc", False)] + ([("mallopt thresholds", True)] if args.malloc else [])
    thread_counts = args.thread_counts or [torch.get_num_threads()]
    for label, malloc in rounds:
        if malloc and not keep_freed_memory():
            print("mallopt unavailable")
            continue
        print(f"\n[{label}] matmul peak measured right before and after each preset, same threads")
        w = max(12, *(len(x) for x in args.presets))
        print(
            f"{'preset':{w}s} {'threads':>7s} {'params':>10s} {'tok/step':>9s} {'tok/s':>9s} "
            f"{'GFLOP/s':>8s} {'matmul':>7s} {'ratio':>6s} {'data':>5s}"
        )
        for name in args.presets:
            for n in thread_counts:
                torch.set_num_threads(n)
                before = matmul_flops(0.6)
                r = bench_preset(
                    name,
                    corpus,
                    vocab.size,
                    args.steps,
                    args.precision,
                    overrides=tuple(args.overrides),
                )
                peak = (before + matmul_flops(0.6)) / 2
                print(
                    f"{name:{w}s} {n:7d} {r['params']:10,d} {r['tokens_per_step']:9,d} "
                    f"{r['tok_s']:9,.0f} {r['flops'] / 1e9:8.1f} {peak / 1e9:7.1f} "
                    f"{r['flops'] / peak:6.0%} {r['data_share']:5.0%}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
