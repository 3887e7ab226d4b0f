"""Generator benchmark: sentences/s, tokens/s and peak memory for worlds written as token shards.

Each scale runs in a fresh process (so its peak memory is its own): ``generate_world`` end to end
(graph, probes, tokenizer and one pass of the corpus as uint16/uint32 token shards, with the
given number of worker processes), timed on the wall clock. Peak memory is the high-water mark
of the summed PSS of the process and its workers, sampled every 100 ms (pages shared by forked
workers count once), next to the summed RSS (an upper bound) and ``getrusage``'s ``ru_maxrss``.

Optionally runs the reference generator (IST-DASLab/behemoth; give the path of a checkout with
``--reference``; never committed here) on the same worlds side by side and prints the ratio.
The reference keeps the whole corpus in memory as Python strings, so it cannot run the paper
world on this machine (~3x10^8 sentences); for that one the ratio is against the figure the
issue gives for it (~3x10^4 sentences/s).

    .venv/bin/python bench/bench_generate.py                       # tiny, demo, ref10k
    .venv/bin/python bench/bench_generate.py --scales ref10k --reference /tmp/refgen
    .venv/bin/python bench/bench_generate.py --scales tiny --paper --out /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

#: Extra scales beyond the presets: the reference's measured world (10,000 x 6 x 400, 50 repeats).
CUSTOM = {"ref10k": {"subjects": 10000, "relations": 6, "objects": 400, "repeats": 50}}
REFERENCE_PAPER_SENTENCES_PER_S = 3e4  # the figure for the reference on this machine
TARGET_SECONDS, TARGET_BYTES, TARGET_RATIO = 600.0, 2 * 1024**3, 100.0


def scale_config(name: str) -> dict[str, Any]:
    from behemoth.world.presets import world_preset

    return dict(CUSTOM[name]) if name in CUSTOM else world_preset(name)


class PeakRSS:
    """Samples the memory of this process and its descendants in a background thread: the
    summed PSS (proportional set size: pages shared by forked workers count once, so the sum is
    the true total) and the summed RSS (shared pages counted in every process: an upper bound)."""

    def __init__(self, pid: int | None = None, interval: float = 0.1) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval, self.peak, self.peak_rss = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[int, int]:
        rss = pss = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                info = p.memory_full_info()
            except Exception:  # a worker that just exited
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        return rss, pss

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss, pss = self._sample()
            except Exception:
                return
            self.peak_rss, self.peak = max(self.peak_rss, rss), max(self.peak, pss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_one(name: str, out: Path, workers: int) -> dict[str, Any]:
    """Generate one world with shards (in this process) and measure it."""
    from behemoth.world import WorldConfig, generate_world

    cfg = WorldConfig.from_dict(scale_config(name))
    load = os.getloadavg()[0]
    cpu0 = _cpu_seconds()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        world = generate_world(cfg, out, shards=True, force=True, workers=workers)
        seconds = time.perf_counter() - t0
    counts = world.meta["counts"]
    disk = sum(f.stat().st_size for f in (out / "shards").glob("*.bin"))
    kib = 1024  # ru_maxrss is in KiB on Linux
    return {
        "scale": name,
        "world": f"{cfg.subjects}x{cfg.relations}x{cfg.objects}, {cfg.repeats} repeats",
        "sentences": counts["sentences_per_pass"],
        "tokens": counts["tokens_written"],
        "seconds": seconds,
        "shard_bytes": disk,
        "peak_pss": mem.peak,
        "peak_rss": mem.peak_rss,
        "maxrss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib,
        "maxrss_largest_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kib,
        "workers": workers,
        "cpu_seconds": _cpu_seconds() - cpu0,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished workers."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def run_scale(name: str, root: Path, workers: int, keep: bool) -> dict[str, Any]:
    """Run one scale in a fresh interpreter so that its peak memory is its own."""
    out = root / f"behemoth_{name}"
    cmd = [sys.executable, __file__, "--one", name, "--out", str(out), "--workers", str(workers)]
    try:
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if res.returncode:
            raise SystemExit(f"scale {name} failed:\n{res.stderr[-3000:]}")
        row = dict(json.loads(res.stdout.strip().splitlines()[-1]))
        row["process_seconds"] = wall  # with interpreter start and imports, like the reference's
        return row
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)


def run_reference(
    name: str, ref: Path, python: str, root: Path, timeout: float
) -> dict[str, Any] | None:
    """The reference generator on the same world (shuffle mode), timed end to end."""
    cfg = scale_config(name)
    out = root / f"reference_{name}"
    cmd = [python, "create_data.py", "-s", str(cfg["subjects"]), "-r", str(cfg["relations"]),
           "-o", str(cfg["objects"]), "-n", str(cfg["repeats"]), "--shuffle",
           "--output-dir", str(out)]  # fmt: skip
    if not cfg.get("shuffle", True) or cfg.get("nested_objects") or cfg.get("questions_frac"):
        return None  # only the plain shuffled world is compared
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    proc = subprocess.Popen(cmd, cwd=ref, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with PeakRSS(proc.pid) as mem:
            _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"timeout": timeout}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if proc.returncode:
        raise SystemExit(f"reference failed on {name}:\n{err.decode()[-2000:]}")
    sentences = cfg["subjects"] * cfg["relations"] * cfg["repeats"]
    return {"seconds": seconds, "cpu_seconds": cpu, "sentences": sentences, "peak_pss": mem.peak}


def _gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def report(rows: list[dict[str, Any]]) -> None:
    head = (f"{'scale':<8} {'world':<32} {'sentences':>13} {'tokens':>15} {'seconds':>8} "
            f"{'CPU s':>7} {'sentences/s':>12} {'tokens/s':>12} {'sent/CPU-s':>11} "
            f"{'peak PSS':>9} {'load':>9}  reference: seconds, s/s, peak PSS -> speed-up")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        sps = r["sentences"] / r["seconds"]
        ref = r.get("reference")
        if ref and "seconds" in ref:
            rsps = ref["sentences"] / ref["seconds"]
            # end to end on both sides: interpreter start, imports, graph, tokenizer, corpus
            ratio = ref["seconds"] / r["process_seconds"]
            imports = r["process_seconds"] - r["seconds"]
            cpu_ratio = (r["sentences"] / r["cpu_seconds"]) / (
                ref["sentences"] / ref["cpu_seconds"]
            )
            cmp = (
                f"{ref['seconds']:.1f} s ({ref['cpu_seconds']:.1f} CPU s) = {rsps:,.0f} s/s, "
                f"{_gib(ref['peak_pss'])} -> x{ratio:,.1f} end to end (x{sps / rsps:,.0f} "
                f"without our {imports:.1f} s of start-up and imports; x{cpu_ratio:,.0f} "
                "per CPU second)"
            )
        elif ref:
            cmp = f"timed out after {ref['timeout']:.0f} s"
        else:
            cmp = "-"
        print(
            f"{r['scale']:<8} {r['world']:<32} {r['sentences']:>13,} {r['tokens']:>15,} "
            f"{r['seconds']:>8.2f} {r['cpu_seconds']:>7.1f} {sps:>12,.0f} "
            f"{r['tokens'] / r['seconds']:>12,.0f} {r['sentences'] / r['cpu_seconds']:>11,.0f} "
            f"{_gib(r['peak_pss']):>9} {r['load_before']:>4.1f}/{r['load_after']:<4.1f}  {cmp}"
        )
    for r in rows:
        if r["scale"] != "paper":
            continue
        sps = r["sentences"] / r["seconds"]
        ratio = sps / REFERENCE_PAPER_SENTENCES_PER_S
        print(
            f"\npaper world with {r['workers']} workers: {r['seconds']:.0f} s "
            f"(target < {TARGET_SECONDS:.0f}: {'met' if r['seconds'] < TARGET_SECONDS else 'MISSED'}), "
            f"peak {_gib(r['peak_pss'])} PSS summed ({_gib(r['peak_rss'])} RSS summed; "
            f"{_gib(r['maxrss_self'])} main + "
            f"{_gib(r['maxrss_largest_worker'])} per worker by ru_maxrss) "
            f"(target < 2 GiB: {'met' if r['peak_pss'] < TARGET_BYTES else 'MISSED'}), "
            f"{sps:,.0f} sentences/s = x{ratio:,.0f} the reference's ~3x10^4 "
            f"(target x{TARGET_RATIO:.0f}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}; "
            f"{r['sentences'] / r['cpu_seconds']:,.0f} sentences per CPU second, with "
            f"{r['cpu_seconds']:.0f} CPU s in {r['seconds']:.0f} s: the workers had "
            f"{r['cpu_seconds'] / r['seconds']:.1f} of {r['workers']} cores at load "
            f"{r['load_before']:.1f}), {_gib(r['shard_bytes'])} of shards"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scales", default="tiny,demo,ref10k", help="comma-separated presets / ref10k")
    ap.add_argument(
        "--paper", action="store_true", help="also run the paper preset (~7 GB, minutes)"
    )
    ap.add_argument("--workers", type=int, default=2, help="shard-writing processes (default 2)")
    ap.add_argument("--out", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the generated worlds")
    ap.add_argument("--reference", default=None, help="path of a reference generator checkout")
    ap.add_argument("--reference-python", default="python3", help="interpreter for the reference")
    ap.add_argument("--reference-scales", default="tiny,ref10k", help="scales to run it on")
    ap.add_argument("--reference-timeout", type=float, default=600.0)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:  # child mode: one scale, JSON on stdout
        print(json.dumps(run_one(args.one, Path(args.out), args.workers)))
        return
    scales = [s for s in args.scales.split(",") if s]
    if args.paper and "paper" not in scales:
        scales.append("paper")
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_generate_"))
    root.mkdir(parents=True, exist_ok=True)
    ref_scales = set(args.reference_scales.split(",")) if args.reference else set()
    rows = []
    try:
        for name in scales:
            print(
                f"[{time.strftime('%H:%M:%S')}] generating {name} ...", file=sys.stderr, flush=True
            )
            row = run_scale(name, root, args.workers, args.keep)
            if name in ref_scales:
                print(f"[{time.strftime('%H:%M:%S')}] reference on {name} ...", file=sys.stderr)
                row["reference"] = run_reference(
                    name, Path(args.reference), args.reference_python, root, args.reference_timeout
                )
            rows.append(row)
    finally:
        if not args.out and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\ngenerator benchmark: {os.cpu_count()} CPUs, {args.workers} workers")
    print("(seconds: wall clock of generate_world; CPU s: its CPU time, workers included;")
    print(" load: 1-minute load average before/after: above the CPU count, others compete)\n")
    report(rows)


if __name__ == "__main__":
    main()
