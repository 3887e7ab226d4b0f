"""The sequential-editing curves (one PNG, four panels), from the rows of ``sequential.parquet``.

Pure: plain dicts + matplotlib, no torch. Panels, against edits applied: retention of earlier
edits; the distance of each edited matrix from the original (|W - W0|_F / numel); accuracy on
each probe set of the world and on its unedited facts; each batch's update norm. The first
disabling edit and the collapse point (see :mod:`behemoth.experiments.sequential`) are marked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any


def _series(
    rows: list[dict[str, Any]], measure: str, seed: Any
) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for r in rows:
        if r["measure"] == measure and r["seed"] == seed and not math.isnan(r["value"]):
            xs, ys = out[r["split"]]
            xs.append(r["edits_applied"])
            ys.append(r["value"])
    return dict(out)


def plot_sequential(
    rows: list[dict[str, Any]], runs: list[dict[str, Any]], path: str | Path, *, title: str = ""
) -> Path:
    """Write the curves of the first seed in ``runs`` (``edit.json``'s per-seed entries)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed = runs[0]["seed"]
    seq = runs[0]["sequential"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), dpi=120, sharex=True)
    panels = [
        (axes[0, 0], "retention", "retention of earlier edits", False),
        (axes[0, 1], "weight_distance_per_numel", "|W - W0|_F / numel", False),
        (axes[1, 0], "probe_accuracy", "world probe accuracy", False),
        (axes[1, 1], "update_norm", "update norm |dW|_F (per batch)", True),
    ]
    for ax, measure, label, log in panels:
        series = _series(rows, measure, seed)
        if measure == "probe_accuracy":
            series.update(
                {"unedited facts": _series(rows, "unedited_accuracy", seed).get("world", ([], []))}
            )
        for name, (xs, ys) in sorted(series.items()):
            style = "." if measure == "update_norm" else "-o"
            ax.plot(xs, ys, style, ms=3, lw=1.2, label=name)
        ax.set_ylabel(label)
        if log and any(ys for _, ys in series.values()):
            ax.set_yscale("log")
        if 0 < len(series) <= 8:
            ax.legend(fontsize=6)
        if seq.get("disabling_edit") is not None:
            ax.axvline(seq["disabling_edit"] + 1, color="red", ls="--", lw=1)
        if seq.get("collapse_point") is not None:
            ax.axvline(seq["collapse_point"], color="black", ls=":", lw=1)
    for ax in axes[1]:
        ax.set_xlabel("edits applied")
    dis = seq.get("disabling_edit")
    col = seq.get("collapse_point")
    fig.suptitle(
        f"{title}  disabling edit: {'none' if dis is None else dis} (red --), "
        f"collapse: {'none' if col is None else col} (black :)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
