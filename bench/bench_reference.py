"""Side by side: the reference's ``create_data.py`` against ``behemoth generate``, whole processes.

Both write the same world (default 100,000 subjects x 6 relations x 400 objects, 10 repeats,
shuffled), one after the other on the same machine, each as a fresh process timed on the wall
clock from start to exit (imports included). The reference is fetched by the caller into a
scratch folder (``--reference DIR``, a checkout of IST-DASLab/behemoth; never committed here)
and run from there with its own defaults except the sizes and ``--output-dir``; it needs no
network. Prints both times and the ratio; ``--repeat N`` takes the best of N runs of each.

    python bench/bench_reference.py --reference /tmp/refsrc
    python bench/bench_reference.py --reference /tmp/refsrc --repeats 500 --skip-reference-above 600
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, help="a checkout of the reference generator")
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--relations", type=int, default=6)
    ap.add_argument("--objects", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    ap.add_argument("--workers", type=int, default=None, help="behemoth's shard writers")
    ap.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    ref = Path(args.reference)
    if not (ref / "create_data.py").is_file():
        sys.exit(f"--reference: {ref} has no create_data.py; give a checkout of the reference")
    scratch = Path(args.out or tempfile.mkdtemp(prefix="bench_reference_"))
    scratch.mkdir(parents=True, exist_ok=True)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    sizes = ["-s", str(args.subjects), "-r", str(args.relations), "-o", str(args.objects)]
    ref_cmd = [sys.executable, "create_data.py", *sizes, "-n", str(args.repeats), "--shuffle"]
    sets = [
        f"subjects={args.subjects}",
        f"relations={args.relations}",
        f"objects={args.objects}",
        f"repeats={args.repeats}",
        "shuffle=true",
    ]
    ours_cmd = [sys.executable, "-m", "behemoth.cli.main", "generate", "--preset", "tiny"]
    for s in sets:
        ours_cmd += ["--set", s]
    if args.workers:
        ours_cmd += ["--workers", str(args.workers)]
    t_ref, t_ours = [], []
    for i in range(args.repeat):
        out_ref, out_ours = scratch / f"ref{i}", scratch / f"ours{i}"
        t_ref.append(timed([*ref_cmd, "--output-dir", str(out_ref)], cwd=str(ref)))
        shutil.rmtree(out_ref, ignore_errors=True)
        t_ours.append(timed([*ours_cmd, "--out", str(out_ours), "--force"], env=env))
        shutil.rmtree(out_ours, ignore_errors=True)
        print(f"run {i}: reference {t_ref[-1]:.1f} s, behemoth {t_ours[-1]:.1f} s", flush=True)
    a, b = min(t_ref), min(t_ours)
    world = f"{args.subjects:,} x {args.relations} x {args.objects}, {args.repeats} repeats"
    print(f"world {world}: reference {a:.1f} s, behemoth generate {b:.1f} s, ratio {a / b:.1f}x")
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
