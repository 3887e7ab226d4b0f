"""Table and plot of ``bench/memory_stream.py`` runs (no torch: rows in, figures out).

    python bench/memory_report.py RUN_DIR [RUN_DIR ...] --md docs/memory_editing_table.md \
        --png docs/memory_editing.png

Per editor, at its last evaluation and at the largest number of edits every editor reached:
immediate edit success (the edited prompt right after its edit), retention (efficacy over all
edits applied so far), generalization, specificity, locality and drawdown (item-weighted over
their splits), SERAC's edit success (in-scope accuracy), median seconds per edit, memory added.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["serac", "grace", "rome", "memit", "alphaedit", "ft"]


def load(dirs: list[str]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in dirs:
        for f in sorted(Path(d).glob("*.jsonl")):
            for line in f.read_text().splitlines():
                if line.strip():
                    r = json.loads(line)
                    rows[r["editor"]].append(r)
    return rows


def _is(r: dict[str, Any], at: int, metric: str) -> bool:
    return bool(r["kind"] == "metric" and r["edits_applied"] == at and r["metric"] == metric)


def weighted(rows: list[dict[str, Any]], at: int, metric: str, groups: tuple[str, ...]) -> float:
    num = den = 0.0
    for r in rows:
        if _is(r, at, metric) and r["group"] in groups:
            num += r["value"] * r["n"]
            den += r["n"]
    return num / den if den else float("nan")


def summary(rows: list[dict[str, Any]], at: int) -> dict[str, float]:
    edits = [r for r in rows if r["kind"] == "edit" and r["edit"] < at]
    eff = weighted(rows, at, "efficacy", ("efficacy",))
    gen = weighted(rows, at, "generalization", ("generalization",))
    n_eff = sum(
        r["n"]
        for r in rows
        if r["kind"] == "metric" and r["edits_applied"] == at and r["metric"] == "efficacy"
    )
    n_gen = sum(
        r["n"]
        for r in rows
        if r["kind"] == "metric" and r["edits_applied"] == at and r["metric"] == "generalization"
    )
    es = (eff * n_eff + gen * n_gen) / (n_eff + n_gen) if n_eff + n_gen else float("nan")
    evals = [r["seconds"] for r in rows if r["kind"] == "eval" and r["edits_applied"] == at]
    return {
        "edits": at,
        "immediate": statistics.fmean(e["success"] for e in edits) if edits else float("nan"),
        "retention": eff,
        "generalization": gen,
        "edit_success": es,
        "specificity": weighted(rows, at, "specificity", ("specificity",)),
        "locality": weighted(rows, at, "locality", ("specificity",)),
        "drawdown": weighted(rows, at, "drawdown", ("specificity",)),
        "sec_per_edit": statistics.median(e["seconds"] for e in edits) if edits else float("nan"),
        "memory_kb": (edits[-1]["memory_bytes"] / 1024) if edits else float("nan"),
        "eval_s": evals[0] if evals else float("nan"),
    }


def eval_points(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({r["edits_applied"] for r in rows if r["kind"] == "eval"})


COLS = [
    ("edits", "{:>5}"),
    ("immediate", "{:.3f}"),
    ("retention", "{:.3f}"),
    ("generalization", "{:.3f}"),
    ("edit_success", "{:.3f}"),
    ("specificity", "{:.3f}"),
    ("locality", "{:.3f}"),
    ("drawdown", "{:+.3f}"),
    ("sec_per_edit", "{:.2f}"),
    ("memory_kb", "{:.1f}"),
    ("eval_s", "{:.1f}"),
]


def table(rows: dict[str, list[dict[str, Any]]], at: dict[str, int]) -> str:
    head = "| editor | " + " | ".join(c for c, _ in COLS) + " |"
    lines = [head, "|" + "---|" * (len(COLS) + 1)]
    for name in [n for n in ORDER if n in rows] + sorted(set(rows) - set(ORDER)):
        if name not in at:
            continue
        s = summary(rows[name], at[name])
        lines.append(f"| {name} | " + " | ".join(f.format(s[c]) for c, f in COLS) + " |")
    return "\n".join(lines)


def splits(
    rows: dict[str, list[dict[str, Any]]], at: dict[str, int], group: str, metric: str
) -> str:
    """Per split of ``group``: ``metric`` of each editor at its last evaluation."""
    names = [n for n in ORDER if n in at]
    found = sorted(
        {
            r["split"]
            for n in names
            for r in rows[n]
            if r["kind"] == "metric" and r["group"] == group
        }
    )
    lines = ["| split | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for sp in found:
        vals = []
        for n in names:
            v = [
                r["value"]
                for r in rows[n]
                if _is(r, at[n], metric) and r["group"] == group and r["split"] == sp
            ]
            vals.append(f"{v[0]:.3f}" if v else "-")
        lines.append(f"| {sp} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def plot(rows: dict[str, list[dict[str, Any]]], png: str) -> None:
    panels = [
        ("retention", "retention (efficacy, all edits so far)"),
        ("generalization", "generalization (other formats)"),
        ("drawdown", "drawdown (accuracy lost, untouched facts)"),
        ("sec_per_edit", "seconds per edit (median, loaded machine)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, (key, title) in zip(axes.flat, panels):
        for name in [n for n in ORDER if n in rows]:
            pts = eval_points(rows[name])
            ys = [summary(rows[name], p)[key] for p in pts]
            ax.plot(pts, ys, marker="o", ms=3, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("edits applied")
        if key == "sec_per_edit":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("One stream of sequential single edits on the demo model (evaluation every 50)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--md", required=True)
    p.add_argument("--png", required=True)
    a = p.parse_args()
    rows = load(a.runs)
    last = {n: eval_points(r)[-1] for n, r in rows.items() if eval_points(r)}
    common = min(last.values())
    text = (
        f"At the last evaluation of each editor:\n\n{table(rows, last)}\n\n"
        f"At {common} edits (reached by every editor):\n\n{table(rows, dict.fromkeys(last, common))}\n\n"
        f"Generalization per format (accuracy of the new answer, last evaluation):\n\n"
        f"{splits(rows, last, 'generalization', 'generalization')}\n\n"
        f"Drawdown per specificity split (last evaluation):\n\n"
        f"{splits(rows, last, 'specificity', 'drawdown')}\n"
    )
    Path(a.md).write_text(text)
    plot(rows, a.png)
    print(text)


if __name__ == "__main__":
    main()
