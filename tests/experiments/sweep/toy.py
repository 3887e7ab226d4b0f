"""A run function for runner tests: deterministic rows computed from the config, no model.

It stands in for :func:`behemoth.experiments.sweep.execute.execute` where a test is about the
sweep machinery (resume, failures, backends, kills) and not about editing. Rows mimic what the
real runs produce (efficacy, specificity, update rank; streams get several checkpoints and
batch update norms; forget scenarios a forget accuracy), so the report draws every plot.
An editor ``lr`` of 0.123 makes the run fail and 0.456 kills its worker, to test failure
isolation. ``TOY_SLEEP`` (seconds)
slows each run down, for kill tests.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from behemoth.experiments.sweep.execute import RunOutput
from behemoth.experiments.sweep.spec import canonical_json


def _u(*parts: Any) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    h = hashlib.sha256(canonical_json(parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def toy(config: dict[str, Any], run_id: str, shared: Path) -> RunOutput:
    time.sleep(float(os.environ.get("TOY_SLEEP", "0")))
    ed = config["editor"]
    if ed["settings"].get("lr") == 0.123:
        raise ValueError("lr 0.123 is the toy's poison value")
    if ed["settings"].get("lr") == 0.456:
        os._exit(1)  # the worker dies (as when killed or out of memory)
    scen = config["scenario"]
    # a shared artifact, built once: the count of builds is checked by the tests
    from behemoth.experiments.sweep.cache import shared_artifact

    def build(p: Path) -> None:
        p.mkdir(parents=True)
        (p / "built").write_text(str(os.getpid()))
        with (Path(shared) / "builds.log").open("a") as f:
            f.write(f"{p.name}\n")

    shared_artifact(shared, "toyworlds", config["world"], build, lambda p: (p / "built").is_file())
    base = {"run": run_id, "editor": ed["name"], "scenario": scen["name"], "mode": "toy"}
    n = int(scen["settings"].get("n", scen["settings"].get("k", 1)))
    every = config["eval_every"] or n
    rank = float(ed["settings"].get("rank", 1 + int(8 * _u(run_id, "rank"))))
    rows = []
    checkpoints = list(range(every, n + 1, every)) if scen["name"] == "stream" else [n]
    for c in checkpoints:
        decay = c / max(n, 1)
        for metric, group, split, v, items in (
            ("efficacy", "efficacy", "sro", 1 - 0.5 * decay * _u(run_id, c, "e"), c),
            ("specificity", "specificity", "other", 1 - 0.6 * decay * _u(run_id, c, "s"), 200),
            ("specificity", "specificity", "same_relation", 0.9 - 0.1 * _u(run_id, c), 50),
        ):
            rows.append(_row(base, metric, group, split, round(v * items) / items, items, c))
        if scen["name"] == "forget-relation":
            rows.append(_row(base, "forget_accuracy", "forgetting", "sro", _u(run_id, "f"), 30, c))
    if scen["name"] == "stream":
        for c in range(1, n + 1):
            jump = 50.0 if c == n - 1 else 1.0
            rows.append(_row(base, "batch_update_fro", "cost", "edit", jump * (1 + _u(c)), 1, c))
    rows.append(_row(base, "update_rank", "cost", "all", rank, 1, n))
    return RunOutput(rows, {"edit_s": 0.01})


def _row(
    base: dict[str, Any], metric: str, group: str, split: str, v: float, n: int, c: int
) -> dict[str, Any]:
    return {
        **base,
        "metric": metric,
        "group": group,
        "split": split,
        "value": v,
        "n": n,
        "checkpoint": c,
    }
