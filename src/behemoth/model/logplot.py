"""The training log (JSONL, one record per evaluation) and its learning-curve plot.

Pure data in, file out; imports neither torch nor transformers, so reports can plot a log
without loading a model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOG = "train_log.jsonl"
PLOT = "learning_curve.png"


def write_log(path: str | Path, records: Sequence[dict[str, Any]]) -> None:
    """Write all records, one JSON object per line, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    os.replace(tmp, path)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_learning_curves(
    records: Sequence[dict[str, Any]], path: str | Path, title: str = ""
) -> Path:
    """Accuracy per probe set (left) and losses (right) against tokens seen; a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    tokens = [r["tokens"] for r in records]
    names = list(dict.fromkeys(n for r in records for n in r.get("sets", {})))
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        xs = [t for t, r in zip(tokens, records) if name in r.get("sets", {})]
        ys = [r["sets"][name]["acc"] for r in records if name in r.get("sets", {})]
        ax_acc.plot(xs, ys, marker=".", label=name)
        ls = [r["sets"][name]["loss"] for r in records if name in r.get("sets", {})]
        ax_loss.plot(xs, ls, linestyle="--", label=f"{name} answer loss")
    tl = [(t, r["train_loss"]) for t, r in zip(tokens, records) if r.get("train_loss") is not None]
    if tl:
        ax_loss.plot(
            [t for t, _ in tl],
            [v for _, v in tl],
            color="black",
            label="training loss (all tokens)",
        )
    ax_acc.set(
        xlabel="tokens seen", ylabel="greedy accuracy", ylim=(-0.02, 1.02), title="probe accuracy"
    )
    ax_loss.set(xlabel="tokens seen", ylabel="nats", yscale="log", title="loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    from behemoth.io import write_png

    return write_png(fig, path)
