"""Threads under load: a training slice and a short ROME stream with 1 and 2 torch threads,
alone and beside a competing busy process, side by side in one run (issue 20, point 8b).

For each workload (training steps of the ``tiny`` and ``demo`` geometries on the ``tiny``
world's stream; ROME edits applied one after another on the ``tiny`` geometry) and each
condition (threads 1 / 2; alone / with ``--competitors`` processes spinning on a core each),
repeated ``--repeats`` times in interleaved order, prints the median seconds per step (per
edit), the ratios 2 threads / 1 thread in each condition and busy / alone per thread count,
the load measured before each condition, and what :func:`behemoth.threads.choose_threads`
picks there. "Alone" is only as alone as the machine is: the measured load is printed beside
it.

    .venv/bin/python bench/bench_threads.py [--steps 20] [--edits 5] [--repeats 2]
        [--competitors 1] [--presets tiny demo] [--world DIR]

Models are freshly initialized (timings depend on shapes; ROME's optimization never stops
early on an untrained model: an upper bound per edit).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from behemoth.editors import EditContext, build_editor
from behemoth.model import build_model, count_params, model_preset, resolve_run
from behemoth.model.train import lr_factor, make_optimizer, train_step
from behemoth.threads import choose_threads, cpu_state, forward_work, set_threads
from behemoth.world import World, WorldConfig, generate_world
from behemoth.world.presets import world_preset

sys.path.insert(0, str(Path(__file__).parent))
from bench_edit import requests_for  # noqa: E402


@contextmanager
def competitors(n: int) -> Any:
    """``n`` processes each spinning on a core (a busy machine's other jobs)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0.0)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def training(world: World, preset: str, steps: int) -> tuple[Callable[[], float], float]:
    """A function timing ``steps`` optimizer steps (seconds per step), and the step's work."""
    cfg = resolve_run(model_preset(preset), None, ["train.eval_every=100000"], None)
    t = cfg.train
    model = build_model(cfg.model, world.vocab_size, 0)
    acc = Accelerator(mixed_precision="no", cpu=True)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, t.warmup_steps, t.total_steps, t.min_lr_ratio)
    )
    sampler = world.sampler(t.seq_len, t.batch_size, source="stream")
    batches = [torch.as_tensor(sampler.next_batch()).long() for _ in range(steps)]
    train_step(acc, model, opt, sched, batches[0], t.grad_clip, False)  # warm up

    def run() -> float:
        start = time.perf_counter()
        for b in batches:
            train_step(acc, model, opt, sched, b, t.grad_clip, False)
        return (time.perf_counter() - start) / steps

    return run, forward_work(count_params(model), t.tokens_per_step)


def rome_stream(world: World, edits: int, cache: Path) -> tuple[Callable[[], float], float]:
    """A function timing ``edits`` ROME edits applied in sequence (seconds per edit); the
    statistics are kept under ``cache/stats`` (the run's EditContext)."""
    cfg = resolve_run(model_preset("tiny"))
    base = build_model(cfg.model, world.vocab_size, 0)
    layer = cfg.model.layers // 2
    editor = build_editor("rome", {"mom2_n_tokens": 20000, "layer": layer})
    context = EditContext(world, cache=cache)
    editor.prepare(base, context)  # the statistics, once, outside the timings
    reqs = requests_for(world, edits)

    def run() -> float:
        model = base
        start = time.perf_counter()
        for r in reqs:
            model = editor.apply(model, [r], context).weights()
        return (time.perf_counter() - start) / edits

    return run, forward_work(count_params(base), 64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="training steps per measurement")
    ap.add_argument("--edits", type=int, default=5, help="ROME edits per measurement")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--competitors", type=int, default=1, help="busy processes in 'busy'")
    ap.add_argument("--presets", nargs="+", default=["tiny", "demo"])
    ap.add_argument("--world", default=None, help="a world directory (default: tiny, generated)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    world = (
        World.load(args.world)
        if args.world
        else generate_world(WorldConfig.from_dict(world_preset("tiny")), tmp / "world")
    )
    set_threads(1)
    work: dict[str, tuple[Callable[[], float], float]] = {
        f"train {p} (s/step)": training(world, p, args.steps) for p in args.presets
    }
    work["rome tiny (s/edit)"] = rome_stream(world, args.edits, tmp)

    times: dict[tuple[str, str, int], list[float]] = {}
    loads: dict[str, list[float]] = {"alone": [], "busy": []}
    for rep in range(args.repeats):
        for cond in ["alone", "busy"] if rep % 2 == 0 else ["busy", "alone"]:
            with competitors(args.competitors if cond == "busy" else 0):
                state = cpu_state()
                loads[cond].append(state.load)
                for threads in (1, 2) if rep % 2 == 0 else (2, 1):
                    set_threads(threads)
                    for name, (fn, _) in work.items():
                        times.setdefault((name, cond, threads), []).append(fn())
            print(f"  repeat {rep + 1}/{args.repeats}: {cond} done", flush=True)

    cores = cpu_state().cores
    print(f"\n{cores} cores; median of {args.repeats} repeats; load = other runnable tasks")
    for cond in ("alone", "busy"):
        print(f"  {cond}: load measured {', '.join(f'{x:.2f}' for x in loads[cond])}")
    head = f"{'workload':<24}{'cond':>6}{'1 thread':>10}{'2 threads':>11}{'2t/1t':>7}{'chosen':>8}"
    print(head)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, (_, w) in work.items():
        for cond in ("alone", "busy"):
            one, two = med[(name, cond, 1)], med[(name, cond, 2)]
            pick = choose_threads(cores, statistics.median(loads[cond]), w)
            print(f"{name:<24}{cond:>6}{one:>10.4f}{two:>11.4f}{two / one:>7.2f}{pick:>8}")
        for threads in (1, 2):
            ratio = med[(name, "busy", threads)] / med[(name, "alone", threads)]
            print(f"{'':<24}  busy/alone with {threads} thread(s): {ratio:.2f}x")
        print(f"{'':<24}  work per call {w:.3g} multiply-adds")


if __name__ == "__main__":
    main()
