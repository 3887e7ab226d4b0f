"""Side by side: the reference's ``create_data.py`` against ``behemoth generate``, whole processes.

For each world (``--world SUBJECTSxRELATIONSxOBJECTSxREPEATS``, default the issue's
100000x6x400x10; repeatable), both write the same shuffled world one after the other on the same
machine, each as a fresh process timed from start to exit (imports included): wall clock, and
CPU time (user + system of the process and every process it started). The reference is fetched
by the caller into a scratch folder (``--reference DIR``, a checkout of IST-DASLab/behemoth;
never committed here) and run from there with its own defaults except the sizes and
``--output-dir``; it needs no network. behemoth runs from this checkout's ``src``, or from each
``--src`` given (e.g. a scratch tree with another branch merged in), each timed against the same
reference run. The machine's load average is printed before and after each world: on a shared
machine, only ratios of runs taken together mean anything. ``--repeat N`` keeps the best of N.

    python bench/bench_reference.py --reference /tmp/refsrc
    python bench/bench_reference.py --reference /tmp/refsrc --world 100000x6x400x10 \\
        --world 10000x6x400x500
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_WORLD = "100000x6x400x10"


def timed(
    cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its descendants) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def parse_world(text: str) -> tuple[int, int, int, int]:
    try:
        s, r, o, n = (int(x) for x in text.lower().split("x"))
    except ValueError:
        sys.exit(
            f"--world: {text!r} is not SUBJECTSxRELATIONSxOBJECTSxREPEATS, e.g. 10000x6x400x500"
        )
    return s, r, o, n


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, help="a checkout of the reference generator")
    ap.add_argument("--world", action="append", help=f"SxRxOxN (default {DEFAULT_WORLD})")
    ap.add_argument("--src", action="append", help="behemoth source tree(s) (default: this one)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    ap.add_argument("--workers", type=int, default=None, help="behemoth's shard writers")
    ap.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    ref = Path(args.reference)
    if not (ref / "create_data.py").is_file():
        sys.exit(f"--reference: {ref} has no create_data.py; give a checkout of the reference")
    srcs = args.src or [str(Path(__file__).resolve().parent.parent / "src")]
    for src in srcs:
        if not (Path(src) / "behemoth" / "cli" / "main.py").is_file():
            sys.exit(f"--src: {src} holds no behemoth package; give a source tree (.../src)")
    extra_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    scratch = Path(args.out or tempfile.mkdtemp(prefix="bench_reference_"))
    scratch.mkdir(parents=True, exist_ok=True)
    summary = []
    for world in args.world or [DEFAULT_WORLD]:
        S, R, O, N = parse_world(world)
        sizes = ["-s", str(S), "-r", str(R), "-o", str(O), "-n", str(N)]
        ref_cmd = [sys.executable, "create_data.py", *sizes, "--shuffle"]
        ours_cmd = [sys.executable, "-m", "behemoth.cli.main", "generate", "--preset", "tiny"]
        for key, value in (("subjects", S), ("relations", R), ("objects", O), ("repeats", N)):
            ours_cmd += ["--set", f"{key}={value}"]
        ours_cmd += ["--set", "shuffle=true"]
        if args.workers:
            ours_cmd += ["--workers", str(args.workers)]
        name = f"{S:,} x {R} x {O}, {N} repeats"
        print(f"world {name}: {load()}", flush=True)
        t_ref: list[tuple[float, float]] = []
        t_ours: list[list[tuple[float, float]]] = [[] for _ in srcs]
        for i in range(args.repeat):
            out_ref = scratch / f"ref{i}"
            t_ref.append(timed([*ref_cmd, "--output-dir", str(out_ref)], cwd=str(ref)))
            shutil.rmtree(out_ref, ignore_errors=True)
            line = f"  run {i}: reference {t_ref[-1][0]:.1f} s (CPU {t_ref[-1][1]:.1f} s)"
            for j, src in enumerate(srcs):
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, *extra_path])}
                out = scratch / f"ours{i}_{j}"
                t_ours[j].append(timed([*ours_cmd, "--out", str(out), "--force"], env=env))
                shutil.rmtree(out, ignore_errors=True)
                line += f"; behemoth[{j}] {t_ours[j][-1][0]:.2f} s (CPU {t_ours[j][-1][1]:.2f} s)"
            print(line, f"({load()})", flush=True)
        ref_wall, ref_cpu = min(w for w, _ in t_ref), min(c for _, c in t_ref)
        for j, src in enumerate(srcs):
            wall, cpu = min(w for w, _ in t_ours[j]), min(c for _, c in t_ours[j])
            summary.append(
                f"{name}: reference {ref_wall:.1f} s, behemoth[{j}] {wall:.2f} s -> "
                f"{ref_wall / wall:.1f}x wall clock ({ref_cpu / cpu:.1f}x CPU time)  [{src}]"
            )
        print(f"  after: {load()}", flush=True)
    print("\n".join(["", "ratios (reference / behemoth generate, same run):", *summary]))
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
