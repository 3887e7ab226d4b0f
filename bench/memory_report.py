"""Table and plot of ``bench/memory_stream.py`` runs (no torch: rows in, figures out).

    python bench/memory_report.py RUN_DIR [RUN_DIR ...] --md docs/memory_editing_table.md \
        --png docs/memory_editing.png

Per editor, at its last evaluation and at the largest number of edits every editor reached:
immediate edit success (the edited prompt right after its edit), retention (efficacy over all
edits applied so far), median seconds per edit, memory added; then one table per metric with a
column per split, never pooled across splits of different meaning: generalization (rso,
question_new, qa_new), drawdown, specificity and locality (same_subject, same_value,
same_new_value). SERAC's edit success (in-scope accuracy) is read per split: retention on the
edited prompts, generalization on each other format. Each figure carries its 95% interval and n.
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

from behemoth.intervals import Z95, wilson

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["serac", "serac-sro", "serac-cross", "grace", "rome", "memit", "alphaedit", "ft"]


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


@dataclass
class Figure:
    """An item-weighted mean over rows, its number of items and its 95% interval."""

    value: float
    n: int
    lo: float = float("nan")
    hi: float = float("nan")


def proportion(parts: list[tuple[float, int]]) -> Figure:
    """A pooled share from (value, n) parts; Wilson interval on the pooled count
    (``behemoth.intervals.wilson``, the interval every stage of the package uses)."""
    n = sum(m for _, m in parts)
    k = sum(v * m for v, m in parts)
    lo, hi = wilson(k, n)
    return Figure(k / n if n else float("nan"), n, lo, hi)


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


GEN_SPLITS = ("rso", "question_new", "qa_new")
SPEC_SPLITS = ("same_subject", "same_value", "same_new_value")
# The plot has one line per editor, so it shows one stated split per metric: generalization
# on `rso` (another template), drawdown on `same_subject` (untouched facts of edited subjects,
# the hard negatives of a scope classifier). The tables give every split.


def split_figure(
    rows: list[dict[str, Any]], at: int, metric: str, group: str, split: str
) -> Figure:
    """``metric`` on one split of ``group`` at ``at`` edits, never pooled with another split.
    Shares: Wilson interval of the split's count; drawdown (a paired difference over the split's
    out-of-scope items, SERAC's definition): the row's own interval, or the bound below."""
    sel = [
        r
        for r in rows
        if _is(r, at, metric) and r["group"] == group and r["split"] == split and r["n"]
    ]
    if not sel:
        return Figure(float("nan"), 0)
    r = sel[0]
    if metric != "drawdown":
        return proportion([(float(r["value"]), int(r["n"]))])
    m, n = float(r["value"]), int(r["n"])
    if "ci_low" in r:
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
    else:
        se = math.sqrt(drawdown_var_bound(rows, at, r))
        lo, hi = m - Z95 * se, m + Z95 * se
    return Figure(m, n, max(-1.0, lo), min(1.0, hi))  # items lie in {-1, 0, 1}


def summary(rows: list[dict[str, Any]], at: int) -> dict[str, Any]:
    """Per-editor figures at ``at`` edits: retention (efficacy has one split, ``sro``), and the
    generalization, specificity, locality and drawdown of each split separately (keys
    ``metric/split``). SERAC's edit success (in-scope accuracy) is given per split too: it is
    retention on the edited prompts and generalization on each other format."""
    edits = [r for r in rows if r["kind"] == "edit" and r["edit"] < at]
    evals = [r["seconds"] for r in rows if r["kind"] == "eval" and r["edits_applied"] == at]
    out: dict[str, Any] = {
        "edits": at,
        "immediate": proportion([(float(e["success"]), 1) for e in edits]),
        "retention": split_figure(rows, at, "efficacy", "efficacy", "sro"),
        "sec_per_edit": statistics.median(e["seconds"] for e in edits) if edits else float("nan"),
        "memory_kb": (edits[-1]["memory_bytes"] / 1024) if edits else float("nan"),
        "eval_s": evals[0] if evals else float("nan"),
    }
    for sp in GEN_SPLITS:
        out[f"generalization/{sp}"] = split_figure(rows, at, "generalization", "generalization", sp)
    for metric in ("specificity", "locality", "drawdown"):
        for sp in SPEC_SPLITS:
            out[f"{metric}/{sp}"] = split_figure(rows, at, metric, "specificity", sp)
    return out


def value(x: Any) -> float:
    return float(x.value) if isinstance(x, Figure) else float(x)


def eval_points(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({r["edits_applied"] for r in rows if r["kind"] == "eval"})


COLS = [
    ("edits", "{:>5}"),
    ("immediate", "{:.3f}"),
    ("retention", "{:.3f}"),
    ("sec_per_edit", "{:.2f}"),
    ("memory_kb", "{:.1f}"),
    ("eval_s", "{:.1f}"),
]


def cell(x: Any, fmt: str, with_n: bool = False) -> str:
    """A figure as ``value [lo, hi]`` (95%), optionally ``(n N)``, or the plain value."""
    if not isinstance(x, Figure):
        return fmt.format(x)
    if x.n == 0:
        return "-"
    text = fmt.format(x.value)
    if not math.isnan(x.lo):
        text += f" [{fmt.format(x.lo)}, {fmt.format(x.hi)}]"
    return text + (f" (n {x.n})" if with_n else "")


def editors(at: dict[str, int]) -> list[str]:
    return [n for n in ORDER if n in at] + sorted(set(at) - set(ORDER))


def table(rows: dict[str, list[dict[str, Any]]], at: dict[str, int]) -> str:
    """Edits, immediate success and retention with 95% intervals and n, speed and memory."""
    lines = ["| editor | " + " | ".join(c for c, _ in COLS) + " |", "|" + "---|" * (len(COLS) + 1)]
    for name in editors(at):
        s = summary(rows[name], at[name])
        cells = [cell(s[c], f, with_n=c in ("immediate", "retention")) for c, f in COLS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_split(
    rows: dict[str, list[dict[str, Any]]], at: dict[str, int], metric: str, splits: tuple[str, ...]
) -> str:
    """One table for ``metric``: a row per editor, a column per split (value [95%] (n))."""
    fmt = "{:+.3f}" if metric == "drawdown" else "{:.3f}"
    lines = ["| editor | " + " | ".join(splits) + " |", "|" + "---|" * (len(splits) + 1)]
    for name in editors(at):
        s = summary(rows[name], at[name])
        cells = [cell(s[f"{metric}/{sp}"], fmt, with_n=True) for sp in splits]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(rows: dict[str, list[dict[str, Any]]], at: dict[str, int]) -> str:
    return (
        f"{table(rows, at)}\n\n"
        "Generalization per split (share of the edited facts answered with the new value in a "
        "format the edit was not given):\n\n"
        f"{per_split(rows, at, 'generalization', GEN_SPLITS)}\n\n"
        "Drawdown per specificity split (accuracy of the unedited model minus the edited one on "
        "the split's untouched facts, SERAC's definition over out-of-scope inputs):\n\n"
        f"{per_split(rows, at, 'drawdown', SPEC_SPLITS)}\n\n"
        "Specificity per split (accuracy on the untouched facts):\n\n"
        f"{per_split(rows, at, 'specificity', SPEC_SPLITS)}\n\n"
        "Locality per split (share of untouched facts whose answer did not change):\n\n"
        f"{per_split(rows, at, 'locality', SPEC_SPLITS)}"
    )


def compact(rows: dict[str, list[dict[str, Any]]], at: dict[str, int]) -> str:
    """The README's table at each editor's last evaluation: every figure on one split, with n."""
    gen = [f"gen. {sp}" for sp in GEN_SPLITS]
    dd = [f"drawdown {sp}" for sp in SPEC_SPLITS[:2]]
    head = ["editor", "edits", "retention", *gen, *dd, "s/edit", "memory"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in editors(at):
        s = summary(rows[name], at[name])
        mem = f"{s['memory_kb']:.0f} KB" if s["memory_kb"] else "-"
        cells = [name, str(at[name]), cell(s["retention"], "{:.3f}", True)]
        cells += [cell(s[f"generalization/{sp}"], "{:.3f}", True) for sp in GEN_SPLITS]
        cells += [cell(s[f"drawdown/{sp}"], "{:+.3f}", True) for sp in SPEC_SPLITS[:2]]
        cells += [f"{s['sec_per_edit']:.2f}", mem]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: dict[str, list[dict[str, Any]]], png: str) -> None:
    panels = [
        ("retention", "retention (efficacy, all edits so far)"),
        ("generalization/rso", "generalization, split rso (another template)"),
        ("drawdown/same_subject", "drawdown, split same_subject (untouched facts)"),
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
        f"### At the last evaluation of each editor\n\n{tables(rows, last)}\n\n"
        f"### At {common} edits (reached by every editor)\n\n"
        f"{tables(rows, dict.fromkeys(last, common))}\n"
    )
    Path(a.md).write_text(text)
    if a.readme:
        Path(a.readme).write_text(compact(rows, last) + "\n")
    plot(rows, a.png)
    print(text)


if __name__ == "__main__":
    main()
