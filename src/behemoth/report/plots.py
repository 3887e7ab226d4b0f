"""The report's plots: pure functions, data in, a matplotlib figure out (never imports torch).

Each ``*_data`` function extracts what one kind of plot needs from a sweep's rows and returns
an empty result when the table holds no such data (the plot is then left out of the report);
each ``plot_*`` function draws it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from behemoth.report.data import Estimate, pool_runs, pooled, runs, scalar, site  # noqa: E402

#: The split of edit success every plot draws (the edited prompt itself).
EFFICACY_SPLIT = "sro"
#: The splits of remaining accuracy the rank and site plots draw, each in its own row (never
#: pooled): the edited subjects' other facts, and other subjects' facts of the edited relation.
DAMAGE_SPLITS = ("same_subject", "same_relation")
#: The split of retained accuracy the unlearning plot draws: facts of the other relations.
RETAIN_SPLIT = "other"
#: The split of the unlearning plot's forgetting: the forgotten facts in the trained template.
FORGET_SPLIT = "forgotten"
#: The split of the sequential plot's accuracy on unedited facts: other subjects' facts of the
#: edited relations (in a stream, the largest set of unedited facts).
WORLD_SPLIT = "same_relation"
#: A collapse: world accuracy below this fraction of its value at the first checkpoint.
COLLAPSE_FRACTION = 0.5
#: A disabling edit: a batch whose update norm exceeds this multiple of the median before it.
DISABLING_FACTOR = 10.0


# -- rank vs success / remaining accuracy ---------------------------------------------------------
@dataclass
class RankPoint:
    editor: str  # editor name (colour)
    label: str
    rank: float
    efficacy: Estimate
    damage: dict[str, Estimate]  # DAMAGE_SPLITS present -> remaining accuracy on that split


def rank_data(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[RankPoint]]:
    """(scenario, world) -> one point per editor label (seeds pooled): update rank against
    edit success (EFFICACY_SPLIT) and remaining accuracy on each of DAMAGE_SPLITS."""
    info = runs(rows)
    rank = scalar(rows, "update_rank")
    eff = pooled(rows, "efficacy", "efficacy", EFFICACY_SPLIT)
    spec = {s: pooled(rows, "specificity", "specificity", s) for s in DAMAGE_SPLITS}
    cps: dict[str, set[Any]] = defaultdict(set)
    for r in rows:
        if r.get("group") != "cost" and r.get("phase") != "pre":
            cps[r["run_id"]].add(r.get("checkpoint"))
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for rid, m in info.items():
        if rid in rank and rid in eff and len(cps[rid]) == 1:
            groups[(m["scenario"], m["world"], m["editor"])].append(rid)
    out: dict[tuple[str, str], list[RankPoint]] = defaultdict(list)
    for (scen, world, label), rids in sorted(groups.items()):
        mean_rank = sum(rank[x] for x in rids) / len(rids)
        out[(scen, world)].append(
            RankPoint(
                info[rids[0]]["editor_name"],
                label,
                mean_rank,
                pool_runs(eff, rids),
                {s: pool_runs(v, rids) for s, v in spec.items() if any(r in v for r in rids)},
            )
        )
    return dict(out)


def _colour(names: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(sorted(set(names)))}


def _err(e: Estimate) -> list[list[float]]:
    return [[e.value - e.lo], [e.hi - e.value]]


def plot_rank(data: dict[tuple[str, str], list[RankPoint]]) -> Figure:
    """One column per (scenario, world): edit success (top) and remaining accuracy on each of
    DAMAGE_SPLITS (one row each) against the measured rank of the update, with 95% intervals."""
    keys = sorted(data)
    n_rows = 1 + len(DAMAGE_SPLITS)
    fig, axes = plt.subplots(
        n_rows, len(keys), figsize=(3.6 * len(keys) + 1, 3 * n_rows), squeeze=False, sharey="row"
    )
    colours = _colour([p.editor for k in keys for p in data[k]])
    for j, key in enumerate(keys):
        for i, split in enumerate((None, *DAMAGE_SPLITS)):
            ax = axes[i][j]
            for p in data[key]:
                e = p.efficacy if split is None else p.damage.get(split)
                if e is None:
                    continue
                ax.errorbar(
                    [max(p.rank, 0.8)],
                    [e.value],
                    yerr=_err(e),
                    fmt="o",
                    color=colours[p.editor],
                    capsize=3,
                    label=p.editor,
                )
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"{key[0]} | {key[1]}", fontsize=9)
            if i == n_rows - 1:
                ax.set_xlabel("update rank (measured)")
        axes[0][0].set_ylabel(f"edit success ({EFFICACY_SPLIT})")
        for i, split in enumerate(DAMAGE_SPLITS, start=1):
            axes[i][0].set_ylabel(f"remaining accuracy\n({split})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    fig.legend(uniq.values(), uniq.keys(), loc="upper right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    return fig


# -- layer x module heatmaps ------------------------------------------------------------------------
@dataclass
class Heatmap:
    title: str
    layers: list[int]
    modules: list[str]
    values: list[list[float]]  # [module][layer], NaN where not run


def heatmap_data(rows: list[dict[str, Any]]) -> list[Heatmap]:
    """Per (editor name, scenario, world, metric): edit success and remaining accuracy by the
    layer and module an edit was confined to (only editors swept over >= 2 sites)."""
    info = runs(rows)
    metrics = {
        f"edit success ({EFFICACY_SPLIT})": pooled(rows, "efficacy", "efficacy", EFFICACY_SPLIT),
        **{
            f"remaining accuracy ({s})": pooled(rows, "specificity", "specificity", s)
            for s in DAMAGE_SPLITS
        },
    }
    cells: dict[tuple[str, str, str], dict[tuple[int, str], list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for rid, m in info.items():
        s = site(m["config"])
        if s is not None and m["status"] == "ok":
            cells[(m["editor_name"], m["scenario"], m["world"])][s].append(rid)
    out = []
    for (ed, scen, world), sites in sorted(cells.items()):
        if len(sites) < 2:
            continue
        layers = sorted({s[0] for s in sites})
        modules = sorted({s[1] for s in sites})
        for name, per_run in metrics.items():
            vals = [
                [
                    pool_runs(per_run, sites[(la, mo)]).value if (la, mo) in sites else math.nan
                    for la in layers
                ]
                for mo in modules
            ]
            if all(math.isnan(v) for row in vals for v in row):
                continue  # the scenario has no such split: no empty map
            out.append(Heatmap(f"{ed}: {name} | {scen} | {world}", layers, modules, vals))
    return out


def plot_heatmaps(maps: list[Heatmap]) -> Figure:
    n = len(maps)
    cols = min(n, 2)
    rows_ = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows_, cols, figsize=(5.2 * cols, 2.2 + 0.45 * rows_ * 6), squeeze=False
    )
    for k, hm in enumerate(maps):
        ax = axes[k // cols][k % cols]
        im = ax.imshow(hm.values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(hm.layers)), [str(x) for x in hm.layers])
        ax.set_yticks(range(len(hm.modules)), hm.modules)
        ax.set_xlabel("layer")
        ax.set_title(hm.title, fontsize=8)
        for i, row in enumerate(hm.values):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
        fig.colorbar(im, ax=ax, fraction=0.04)
    for k in range(n, rows_ * cols):
        axes[k // cols][k % cols].axis("off")
    fig.tight_layout()
    return fig


# -- sequential editing -----------------------------------------------------------------------------
@dataclass
class Curve:
    editor: str
    seed: int
    checkpoints: list[int]
    retention: list[float]  # edit success on the edits applied so far
    world_accuracy: list[float]  # accuracy on unedited facts
    disabling: list[int]  # checkpoints of disabling edits
    collapse: int | None  # first checkpoint of collapse


def sequential_data(rows: list[dict[str, Any]]) -> dict[str, list[Curve]]:
    """scenario | world -> one curve per stream run (Gupta et al. 2024, arXiv 2401.07453):
    retention of the edits applied so far (EFFICACY_SPLIT) and accuracy on unedited facts
    (WORLD_SPLIT; one split, never pooled with others) after every evaluation, with disabling edits (an update-norm jump, > DISABLING_FACTOR x the median
    batch update before it) and the collapse (world accuracy < COLLAPSE_FRACTION x the unedited
    model's, or its first value when the table lacks it) marked."""
    by_run: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    )
    for r in rows:
        if r.get("value") is None or r.get("checkpoint") is None:
            continue
        if r.get("phase") == "pre":
            if (r["metric"], r["group"], r["split"]) == ("specificity", "specificity", WORLD_SPLIT):
                acc = by_run[r["run_id"]]["pre"][0]
                acc[0] += float(r["value"]) * int(r["n"])
                acc[1] += int(r["n"])
            continue
        key = {
            ("efficacy", "efficacy", EFFICACY_SPLIT): "ret",
            ("specificity", "specificity", WORLD_SPLIT): "acc",
        }.get((r["metric"], r["group"], str(r.get("split"))))
        if (r["metric"], r["group"]) == ("batch_update_fro", "cost"):
            key = "norm"
        if key is None:
            continue
        acc = by_run[r["run_id"]][key][int(r["checkpoint"])]
        acc[0] += float(r["value"]) * int(r["n"])
        acc[1] += int(r["n"])
    info = runs(rows)
    out: dict[str, list[Curve]] = defaultdict(list)
    for rid, d in sorted(by_run.items()):
        cps = sorted(set(d["ret"]) & set(d["acc"]))
        if len(cps) < 2:
            continue
        ret = [d["ret"][c][0] / d["ret"][c][1] for c in cps]
        acc = [d["acc"][c][0] / d["acc"][c][1] for c in cps]
        norms = sorted((c, v[0] / v[1]) for c, v in d["norm"].items())
        disabling = []
        for i, (c, v) in enumerate(norms):
            before = sorted(x for _, x in norms[:i])
            if len(before) >= 3 and v > DISABLING_FACTOR * before[len(before) // 2]:
                disabling.append(c)
        pre = d["pre"][0] if "pre" in d else [acc[0], 1.0]  # the unedited model, else the first
        base = pre[0] / pre[1]
        collapse = next((c for c, a in zip(cps, acc) if a < COLLAPSE_FRACTION * base), None)
        m = info[rid]
        out[f"{m['scenario']} | {m['world']}"].append(
            Curve(m["editor"], int(m["seed"]), cps, ret, acc, disabling, collapse)
        )
    return dict(out)


def plot_sequential(curves: list[Curve], title: str) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    colours = _colour([c.editor for c in curves])
    for c in curves:
        for ax, ys in zip(axes, (c.retention, c.world_accuracy)):
            ax.plot(c.checkpoints, ys, "-", color=colours[c.editor], alpha=0.8, label=c.editor)
            for d in c.disabling:
                ax.axvline(d, color=colours[c.editor], ls=":", lw=1)
            if c.collapse is not None:
                y = ys[c.checkpoints.index(c.collapse)]
                ax.plot([c.collapse], [y], "x", color=colours[c.editor], ms=9, mew=2)
    axes[0].set_ylabel("retention of applied edits")
    axes[1].set_ylabel("accuracy on unedited facts")
    for ax in axes:
        ax.set_xlabel("edits applied")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    axes[1].legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower left")
    fig.suptitle(f"{title}  (dotted: disabling edit; x: collapse)", fontsize=9)
    fig.tight_layout()
    return fig


# -- unlearning trade-off ---------------------------------------------------------------------------
@dataclass
class TradeoffPoint:
    editor: str
    label: str
    forget: Estimate  # forget_accuracy: still answers the forgotten fact (lower = forgotten)
    retain: Estimate  # accuracy on unedited facts


def unlearning_data(rows: list[dict[str, Any]]) -> dict[str, list[TradeoffPoint]]:
    """scenario | world -> per editor label: how much was forgotten against what was kept."""
    info = runs(rows)
    forget = pooled(rows, "forget_accuracy", "forgetting", FORGET_SPLIT)
    keep = pooled(rows, "specificity", "specificity", RETAIN_SPLIT)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rid, m in info.items():
        if rid in forget and rid in keep:
            groups[(f"{m['scenario']} | {m['world']}", m["editor"])].append(rid)
    out: dict[str, list[TradeoffPoint]] = defaultdict(list)
    for (key, label), rids in sorted(groups.items()):
        out[key].append(
            TradeoffPoint(
                info[rids[0]]["editor_name"],
                label,
                pool_runs(forget, rids),
                pool_runs(keep, rids),
            )
        )
    return dict(out)


def plot_unlearning(data: dict[str, list[TradeoffPoint]]) -> Figure:
    keys = sorted(data)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys) + 1, 4), squeeze=False)
    colours = _colour([p.label for k in keys for p in data[k]])
    for ax, key in zip(axes[0], keys):
        for p in data[key]:
            ax.errorbar(
                [p.forget.value],
                [p.retain.value],
                xerr=_err(p.forget),
                yerr=_err(p.retain),
                fmt="o",
                color=colours[p.label],
                capsize=3,
                label=p.label,
            )
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(f"forgotten facts still answered ({FORGET_SPLIT}; lower = forgotten)")
        ax.set_ylabel(f"accuracy on retained facts ({RETAIN_SPLIT})")
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
