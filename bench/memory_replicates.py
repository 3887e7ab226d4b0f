"""Memory editors on a stream, over trained replicates: ``bench/memory_stream.py`` runs of several
models of one world, each figure stated over models (no torch: rows in, tables and a plot out).

    python bench/memory_replicates.py ROOT --md docs/memory_editing_tables.md \
        --png docs/memory_editing.png --readme readme_table.md

``ROOT/<model>/<label>.jsonl`` holds one model's run of each editor (``memory_stream.py --out
ROOT/<model>``). The trained model is the unit of replication (issue 20): per model, each figure
is that model's own value over its items, read by ``memory_report.summary`` (retention =
efficacy over all edits applied so far; generalization per split rso / question_new / qa_new;
drawdown per specificity split, the unedited model's accuracy minus the edited one's on the
split's untouched facts, SERAC's definition, Mitchell et al. 2022, Sec. 4); over models it is
``behemoth.replicates.across_models``: the mean over models, the Student-t 95% interval over
models, the between-model SD, and the per-model values. Threshold findings say on how many
models they hold (``behemoth.replicates.holds``). Nothing pools items across models.

Figures are read at two points: each editor's last evaluation on each model (editors stopped by
their time budget stop at different counts on different models: the count is given per model),
and at the largest edit count at which every model of every editor was evaluated.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from behemoth.io import write_png
from behemoth.replicates import ReplicateEstimate, across_models, holds
from memory_report import ORDER, eval_points, load, summary, value

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: model -> editor label -> that run's post-edit rows (``memory_report.load``)
Runs = dict[str, dict[str, list[dict[str, Any]]]]
#: (model, editor) -> the edit count to read the figures at (None: not read)
AtFn = Callable[[str, str], int | None]

GEN_SPLITS = ("rso", "question_new", "qa_new")
DD_SPLITS = ("same_subject", "same_value")
KEYS = (
    ("retention", "retention"),
    *((f"generalization/{sp}", f"gen. {sp}") for sp in GEN_SPLITS),
    *((f"drawdown/{sp}", f"drawdown {sp}") for sp in DD_SPLITS),
)
#: threshold findings stated per model: (key, threshold, above, text)
FINDINGS = (
    ("retention", 0.9, True, "retention > 0.9"),
    ("generalization/rso", 0.5, True, "gen. rso > 0.5"),
    ("drawdown/same_subject", 0.05, True, "drawdown same_subject > 0.05"),
    ("drawdown/same_value", 0.05, True, "drawdown same_value > 0.05"),
)


def is_model_folder(d: Path) -> bool:
    """A folder of one model's runs: its runs' first rows (``prepare``) name the model. Older
    runs (e.g. ``earlier/``, written before the model was recorded) are not read."""
    files = sorted(d.glob("*.jsonl")) if d.is_dir() else []
    for f in files:
        with f.open() as fh:
            first = fh.readline()
        if first.strip() and "model" in json.loads(first):
            return True
    return False


def model_seed(d: Path) -> int:
    """The training seed the folder's runs record (-1 if none): models are listed by seed."""
    for f in sorted(d.glob("*.jsonl")):
        with f.open() as fh:
            first = json.loads(fh.readline() or "{}")
        if first.get("seed") is not None:
            return int(first["seed"])
    return -1


def load_runs(root: str | Path) -> Runs:
    """Every model folder under ``root`` (see ``is_model_folder``), by training seed, then
    name: model -> editor -> rows."""
    dirs = [d for d in Path(root).iterdir() if is_model_folder(d)]
    dirs.sort(key=lambda d: (model_seed(d), d.name))
    return {d.name: dict(load([str(d)])) for d in dirs}


def run_load(rows: list[dict[str, Any]]) -> float:
    """Mean 1-minute load average recorded at the run's evaluations (NaN if none)."""
    seen = [r["loadavg"][0] for r in rows if r["kind"] == "eval" and "loadavg" in r]
    return sum(seen) / len(seen) if seen else float("nan")


def prepare_rows(root: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """model -> editor -> its ``prepare`` row (model seed, budget, load average)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for f in sorted(f for f in Path(root).glob("*/*.jsonl") if is_model_folder(f.parent)):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if r.get("kind") == "prepare":
                out.setdefault(f.parent.name, {})[r["editor"]] = r
                break
    return out


def editors_of(runs: Runs) -> list[str]:
    names = {e for per in runs.values() for e in per}
    return [n for n in ORDER if n in names] + sorted(names - set(ORDER))


def last_at(runs: Runs) -> AtFn:
    """Each run's last evaluation."""

    def at(model: str, editor: str) -> int | None:
        pts = eval_points(runs[model].get(editor, []))
        return pts[-1] if pts else None

    return at


def common_point(runs: Runs) -> int | None:
    """The largest edit count at which every model of every editor was evaluated (None if
    there is none)."""
    sets = [set(eval_points(rows)) for per in runs.values() for rows in per.values()]
    both = set.intersection(*sets) if sets else set()
    return max(both) if both else None


def fixed_at(count: int | None) -> AtFn:
    def at(model: str, editor: str) -> int | None:
        return count

    return at


def bounds_of(key: str) -> tuple[float, float] | None:
    """Shares lie in [0, 1], drawdown (a difference of two accuracies) in [-1, 1], seconds in
    [0, inf)."""
    if key.startswith("drawdown"):
        return (-1.0, 1.0)
    if key == "sec_per_edit":
        return (0.0, math.inf)
    return (0.0, 1.0)


def per_model(runs: Runs, editor: str, key: str, at: AtFn) -> tuple[list[float], list[int]]:
    """The models' values of ``key`` for ``editor`` (NaN where the model has none at its point)
    and their item counts, in the order of ``runs``."""
    vals: list[float] = []
    ns: list[int] = []
    for model, per in runs.items():
        a = at(model, editor)
        rows = per.get(editor, [])
        if a is None or a not in eval_points(rows):
            vals.append(float("nan"))
            ns.append(0)
            continue
        x = summary(rows, a)[key]
        vals.append(value(x))
        ns.append(int(getattr(x, "n", 0)))
    return vals, ns


def estimate(runs: Runs, editor: str, key: str, at: AtFn) -> ReplicateEstimate:
    """``key`` of ``editor`` over models (``behemoth.replicates.across_models``)."""
    vals, ns = per_model(runs, editor, key, at)
    return across_models(vals, ns, bounds=bounds_of(key))


def cut_short(rows: list[dict[str, Any]]) -> bool:
    """A run ended from outside (killed): no ``stopped`` row (its budget) and edits applied
    after its last evaluation (a finished stream ends with an evaluation at its last edit)."""
    if any(r["kind"] == "stopped" for r in rows):
        return False
    edits = [r["edit"] for r in rows if r["kind"] == "edit"]
    pts = eval_points(rows)
    return bool(edits) and (not pts or max(edits) + 1 != pts[-1])


def edits_cell(runs: Runs, editor: str, at: AtFn) -> str:
    """The edit counts the figures are read at, per model (one number when all agree); a run
    cut short (``cut_short``) is marked ``*``."""
    shown = []
    for m, per in runs.items():
        c = at(m, editor) if editor in per else None
        if c is not None:
            shown.append(f"{c}*" if cut_short(per[editor]) else str(c))
    if not shown:
        return "-"
    return shown[0] if len(set(shown)) == 1 else "/".join(shown)


def fmt(est: ReplicateEstimate, digits: int = 3, signed: bool = False) -> str:
    """``mean [lo, hi] sd s``, with a sign for differences; the degenerate cases say so."""
    if est.n_models == 0 or math.isnan(est.value):
        return "-"
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    if est.n_models == 1:
        return f.format(est.value) + " (one model)"
    if est.sd == 0.0:
        return f.format(est.value) + f" sd 0 (all {est.n_models} equal)"
    text = f"{f.format(est.value)} [{f.format(est.lo)}, {f.format(est.hi)}]"
    return text + f" sd {est.sd:.{digits}f}"


def over_models(runs: Runs, at: AtFn, seconds: bool = True) -> str:
    """One row per editor: the edit counts read, then each figure over models (mean [t 95%
    interval over models] between-model SD), the number of models, and seconds per edit."""
    head = ["editor", "edits (per model)", *(t for _, t in KEYS), "s/edit", "models"]
    if not seconds:  # the README's: seconds over models mostly measure the load
        head.remove("s/edit")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ed in editors_of(runs):
        cells = [ed, edits_cell(runs, ed, at)]
        cells += [fmt(estimate(runs, ed, k, at), signed=k.startswith("drawdown")) for k, _ in KEYS]
        if seconds:
            cells.append(fmt(estimate(runs, ed, "sec_per_edit", at), digits=2))
        cells.append(str(estimate(runs, ed, "retention", at).n_models))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_labels(runs: Runs, prep: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """``seed S (model id)`` per model, in the order of ``runs``."""
    out = []
    for m in runs:
        seeds = {r.get("seed") for r in prep.get(m, {}).values()}
        seed = seeds.pop() if len(seeds) == 1 else None
        out.append(f"seed {seed} ({m[:8]})" if seed is not None else m[:8])
    return out


def per_model_table(runs: Runs, at: AtFn, labels: list[str]) -> str:
    """Every figure of every editor per model: ``value (n items) @ edits``; seconds per edit
    with the run's mean load average at its evaluations."""
    head = ["editor", "figure", *labels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ed in editors_of(runs):
        for key, title in (*KEYS, ("sec_per_edit", "s/edit")):
            vals, ns = per_model(runs, ed, key, at)
            cells = []
            for (m, _), v, n in zip(runs.items(), vals, ns):
                a = at(m, ed)
                if math.isnan(v):
                    cells.append("-")
                elif key == "sec_per_edit":
                    cells.append(f"{v:.2f} @ {a} (load {run_load(runs[m][ed]):.1f})")
                else:
                    f = "{:+.3f}" if key.startswith("drawdown") else "{:.3f}"
                    cells.append(f"{f.format(v)} (n {n}) @ {a}")
            lines.append(f"| {ed} | {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def findings_table(runs: Runs, at: AtFn) -> str:
    """On how many models each threshold finding holds, per editor (``k/n``)."""
    head = ["editor", *(t for *_, t in FINDINGS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ed in editors_of(runs):
        cells = [ed]
        for key, thr, above, _ in FINDINGS:
            k, n = holds(per_model(runs, ed, key, at)[0], thr, above)
            cells.append(f"{k}/{n}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_seen(prep: dict[str, dict[str, dict[str, Any]]], root: str | Path) -> tuple[float, float]:
    """The smallest and largest 1-minute load average recorded by the runs (at each prepare
    and each evaluation)."""
    seen = [r["loadavg"][0] for per in prep.values() for r in per.values() if "loadavg" in r]
    for f in sorted(f for f in Path(root).glob("*/*.jsonl") if is_model_folder(f.parent)):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if r.get("kind") == "eval" and "loadavg" in r:
                seen.append(r["loadavg"][0])
    return (min(seen), max(seen)) if seen else (float("nan"), float("nan"))


def report(root: str | Path) -> tuple[str, str]:
    """(the markdown tables, the README's compact table)."""
    runs = load_runs(root)
    prep = prepare_rows(root)
    labels = model_labels(runs, prep)
    last = last_at(runs)
    common = common_point(runs)
    lo, hi = load_seen(prep, root)
    parts = [
        f"Models: {', '.join(labels)}. Load average (1 min) seen by the runs: "
        f"{lo:.1f}-{hi:.1f}. Seconds per edit are wall-time medians per model: compare them "
        "between editors of one model run at one load (the per-model tables give each run's "
        "load), not across models or as absolute speeds.",
        "### At each editor's last evaluation on each model",
        "Over models: mean [Student-t 95% interval over models] between-model SD; edits: the "
        "count each model's figures are read at (`*`: that run was ended from outside before "
        "its budget or its last edit, read at its last evaluation).",
        over_models(runs, last),
        "On how many models each finding holds (at the last evaluation):",
        findings_table(runs, last),
        "Per model (value (n items) @ edits applied):",
        per_model_table(runs, last, labels),
    ]
    if common is not None:
        at = fixed_at(common)
        parts += [
            f"### At {common} edits (evaluated on every model for every editor)",
            over_models(runs, at),
            "On how many models each finding holds (at this count):",
            findings_table(runs, at),
            "Per model:",
            per_model_table(runs, at, labels),
        ]
    return "\n\n".join(parts) + "\n", over_models(runs, last, seconds=False) + "\n"


def band(runs: Runs, editor: str, key: str) -> tuple[list[int], list[ReplicateEstimate]]:
    """The eval points every model of ``editor`` reached, and ``key`` over models at each."""
    sets = [set(eval_points(per[editor])) for per in runs.values() if editor in per]
    pts = sorted(set.intersection(*sets)) if sets else []
    return pts, [estimate(runs, editor, key, fixed_at(p)) for p in pts]


def plot(runs: Runs, png: str | Path) -> None:
    """Retention and drawdown (same_subject) against edits applied, a column per editor: each
    model's line faint, the mean over models with its t 95% band where every model was
    evaluated."""
    eds = editors_of(runs)
    panels = (("retention", "retention"), ("drawdown/same_subject", "drawdown same_subject"))
    fig, axes = plt.subplots(
        len(panels), len(eds), figsize=(2.6 * len(eds), 5.4), squeeze=False, sharey="row"
    )
    for j, ed in enumerate(eds):
        for i, (key, title) in enumerate(panels):
            ax = axes[i][j]
            for per in runs.values():
                if ed not in per:
                    continue
                pts = eval_points(per[ed])
                ax.plot(pts, [value(summary(per[ed], p)[key]) for p in pts], color="C0", alpha=0.3)
            pts, ests = band(runs, ed, key)
            if pts:
                mean = np.array([e.value for e in ests])
                lo = np.array([e.lo for e in ests])
                hi = np.array([e.hi for e in ests])
                ax.plot(pts, mean, color="C3", marker="o", ms=3, lw=1.6, label="mean over models")
                ax.fill_between(pts, lo, hi, color="C3", alpha=0.2, lw=0, label="t 95% band")
            if i == 0:
                ax.set_title(ed, fontsize=10)
            if j == 0:
                ax.set_ylabel(title)
            if i == len(panels) - 1:
                ax.set_xlabel("edits applied")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        f"Streams of sequential single edits on {len(runs)} trained demo models "
        "(faint: each model; red: mean over models, t 95% band)",
        fontsize=10,
    )
    fig.tight_layout()
    write_png(fig, png)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="a folder of model folders of memory_stream.py runs")
    p.add_argument("--md", required=True)
    p.add_argument("--png", required=True)
    p.add_argument("--readme", default=None, help="also write the README's compact table here")
    a = p.parse_args()
    text, compact = report(a.root)
    Path(a.md).write_text(text)
    if a.readme:
        Path(a.readme).write_text(compact)
    plot(load_runs(a.root), a.png)
    print(text)


if __name__ == "__main__":
    main()
