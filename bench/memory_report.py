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
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["serac", "serac-cross", "grace", "rome", "memit", "alphaedit", "ft"]


def load(dirs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Post-edit rows per editor. The suite also reports the unedited model on the same items
    (``phase`` "pre"); rows written without their phase are told apart by order (the suite
    writes each evaluation's post rows first, so a repeated metric/split is a pre row)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in dirs:
        for f in sorted(Path(d).glob("*.jsonl")):
            seen: set[tuple[Any, ...]] = set()
            for line in f.read_text().splitlines():
                if not line.strip():
                    continue
                r = json.loads(line)
                if r["kind"] == "metric" and "phase" not in r:
                    key = (r["edits_applied"], r["metric"], r["group"], r["split"])
                    r["phase"] = "pre" if key in seen else "post"
                    seen.add(key)
                if r.get("phase", "post") == "post":
                    rows[r["editor"]].append(r)
    return rows


def _is(r: dict[str, Any], at: int, metric: str) -> bool:
    return bool(r["kind"] == "metric" and r["edits_applied"] == at and r["metric"] == metric)


Z95 = 1.959963984540054


def wilson(k: float, n: float) -> tuple[float, float]:
    """Wilson score 95% interval of k successes in n items (Wilson 1927)."""
    if n <= 0:
        return float("nan"), float("nan")
    p, z2 = k / n, Z95 * Z95
    den = 1 + z2 / n
    mid = (p + z2 / (2 * n)) / den
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    return (0.0 if k <= 0 else max(0.0, mid - half)), (1.0 if k >= n else min(1.0, mid + half))


@dataclass
class Figure:
    """An item-weighted mean over rows, its number of items and its 95% interval."""

    value: float
    n: int
    lo: float = float("nan")
    hi: float = float("nan")


def proportion(parts: list[tuple[float, int]]) -> Figure:
    """A pooled share from (value, n) parts; Wilson interval on the pooled count."""
    n = sum(m for _, m in parts)
    k = sum(v * m for v, m in parts)
    lo, hi = wilson(k, n)
    return Figure(k / n if n else float("nan"), n, lo, hi)


def weighted(rows: list[dict[str, Any]], at: int, metric: str, groups: tuple[str, ...]) -> Figure:
    """Item-weighted mean of ``metric`` over the splits of ``groups`` at ``at`` edits. Shares
    (every metric but drawdown) get the Wilson interval of the pooled count; drawdown (a paired
    difference) the normal interval from its splits' own intervals (independent splits,
    se = sqrt(sum (n_i/N)^2 se_i^2)), when the rows carry them."""
    sel = [r for r in rows if _is(r, at, metric) and r["group"] in groups and r["n"]]
    if metric != "drawdown":
        return proportion([(float(r["value"]), int(r["n"])) for r in sel])
    n = sum(int(r["n"]) for r in sel)
    if not n:
        return Figure(float("nan"), 0)
    mean = sum(float(r["value"]) * int(r["n"]) for r in sel) / n
    var = 0.0
    for r in sel:
        if "ci_low" in r:
            v_i = ((float(r["ci_high"]) - float(r["ci_low"])) / (2 * Z95)) ** 2
        else:  # no interval in the row: a bound from the split's two accuracies (see below)
            v_i = drawdown_var_bound(rows, at, r)
        var += (int(r["n"]) / n) ** 2 * v_i
    se = math.sqrt(var)
    return Figure(mean, n, mean - Z95 * se, mean + Z95 * se)


def drawdown_var_bound(rows: list[dict[str, Any]], at: int, dd: dict[str, Any]) -> float:
    """Upper bound of the variance of a split's drawdown mean when only means are kept: items
    d = ref_right - edited_right lie in {-1, 0, 1}, E[d^2] = P(ref right, edited wrong) +
    P(ref wrong, edited right) <= (1 - edited accuracy) + (1 - reference accuracy), and
    Var(mean) = (E[d^2] - mean^2) / n."""
    acc = [
        float(r["value"])
        for r in rows
        if _is(r, at, "specificity") and r["group"] == dd["group"] and r["split"] == dd["split"]
    ]
    m, n = float(dd["value"]), int(dd["n"])
    if not acc:
        return 0.25 / n
    ref = acc[0] + m
    e2 = min(1.0, (1 - acc[0]) + (1 - ref))
    return max(e2 - m * m, 0.0) / n


def summary(rows: list[dict[str, Any]], at: int) -> dict[str, Any]:
    edits = [r for r in rows if r["kind"] == "edit" and r["edit"] < at]
    eff = weighted(rows, at, "efficacy", ("efficacy",))
    gen = weighted(rows, at, "generalization", ("generalization",))
    es = proportion([(eff.value, eff.n), (gen.value, gen.n)] if eff.n and gen.n else [])
    evals = [r["seconds"] for r in rows if r["kind"] == "eval" and r["edits_applied"] == at]
    return {
        "edits": at,
        "immediate": proportion([(float(e["success"]), 1) for e in edits]),
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


def value(x: Any) -> float:
    return float(x.value) if isinstance(x, Figure) else float(x)


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


def cell(x: Any, fmt: str) -> str:
    """A figure as ``value [lo, hi]`` (95%), or the plain value."""
    if not isinstance(x, Figure):
        return fmt.format(x)
    if math.isnan(x.lo):
        return fmt.format(x.value)
    return f"{fmt.format(x.value)} [{fmt.format(x.lo)}, {fmt.format(x.hi)}]"


def table(rows: dict[str, list[dict[str, Any]]], at: dict[str, int]) -> str:
    """Values with 95% intervals, then the number of items behind each share."""
    head = "| editor | " + " | ".join(c for c, _ in COLS) + " |"
    lines = [head, "|" + "---|" * (len(COLS) + 1)]
    counts = ["| editor | " + " | ".join(c for c, _ in COLS[1:8]) + " |"]
    counts.append("|" + "---|" * 8)
    for name in [n for n in ORDER if n in rows] + sorted(set(rows) - set(ORDER)):
        if name not in at:
            continue
        s = summary(rows[name], at[name])
        lines.append(f"| {name} | " + " | ".join(cell(s[c], f) for c, f in COLS) + " |")
        counts.append(f"| {name} | " + " | ".join(str(s[c].n) for c, _ in COLS[1:8]) + " |")
    return "\n".join(lines) + "\n\nItems behind each figure (n):\n\n" + "\n".join(counts)


def compact(rows: dict[str, list[dict[str, Any]]], at: dict[str, int]) -> str:
    """The README's table: the headline figures at each editor's last evaluation, with n."""
    lines = [
        "| editor | edits | retention | generalization (n) | drawdown (n) | s/edit | memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in [n for n in ORDER if n in at] + sorted(set(at) - set(ORDER)):
        s = summary(rows[name], at[name])
        mem = f"{s['memory_kb']:.0f} KB" if s["memory_kb"] else "-"
        lines.append(
            f"| {name} | {at[name]} | {cell(s['retention'], '{:.3f}')} | "
            f"{cell(s['generalization'], '{:.3f}')} ({s['generalization'].n}) | "
            f"{cell(s['drawdown'], '{:+.3f}')} ({s['drawdown'].n}) | "
            f"{s['sec_per_edit']:.2f} | {mem} |"
        )
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
                r
                for r in rows[n]
                if _is(r, at[n], metric) and r["group"] == group and r["split"] == sp
            ]
            vals.append(f"{v[0]['value']:.3f} (n {v[0]['n']})" if v else "-")
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
            ys = [value(summary(rows[name], p)[key]) for p in pts]
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
    p.add_argument("--readme", default=None, help="also write the README's compact table here")
    a = p.parse_args()
    rows = load(a.runs)
    last = {n: eval_points(r)[-1] for n, r in rows.items() if eval_points(r)}
    # the most edits at which every editor was evaluated
    common = max(set.intersection(*(set(eval_points(r)) for n, r in rows.items() if n in last)))
    text = (
        f"At the last evaluation of each editor:\n\n{table(rows, last)}\n\n"
        f"At {common} edits (reached by every editor):\n\n{table(rows, dict.fromkeys(last, common))}\n\n"
        f"Generalization per format (accuracy of the new answer, last evaluation):\n\n"
        f"{splits(rows, last, 'generalization', 'generalization')}\n\n"
        f"Drawdown per specificity split (last evaluation):\n\n"
        f"{splits(rows, last, 'specificity', 'drawdown')}\n"
    )
    Path(a.md).write_text(text)
    if a.readme:
        Path(a.readme).write_text(compact(rows, last) + "\n")
    plot(rows, a.png)
    print(text)


if __name__ == "__main__":
    main()
