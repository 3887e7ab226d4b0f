"""The report's plots: pure functions, data in, a matplotlib figure out (never imports torch).

Each ``*_data`` function extracts what one kind of plot needs from a sweep's rows and returns
an empty result when the table holds no such data (the plot is then left out of the report);
each ``plot_*`` function draws it.

The trained model is the unit of replication (:mod:`behemoth.report.data`): every plot draws
each model's own value faintly and the mean over models bold, with its 95% interval over
models (Student-t, :func:`behemoth.replicates.across_models`) as bars or a band; with one model,
that model's within-run interval. Every plot has a legend naming each of its series.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from behemoth.replicates import ReplicateEstimate, across_models  # noqa: E402
from behemoth.report.data import (  # noqa: E402
    ModelKey,
    RunValue,
    estimate,
    model_values,
    run_values,
    runs,
    scalar,
    site,
)

#: The split of edit success every plot draws (the edited prompt itself).
EFFICACY_SPLIT = "sro"
#: The splits of remaining accuracy the rank and site plots draw, each in its own row (never
#: pooled): the edited subjects' other facts, and other subjects' facts of the edited relation.
DAMAGE_SPLITS = ("same_subject", "same_relation")
#: The split of retained accuracy the unlearning plot draws: facts of the other relations.
RETAIN_SPLIT = "other"
#: The split of the unlearning plot's forgetting: the forgotten facts in the trained template
#: (what a forget scenario of one template writes, ``scenarios/suite.py``).
FORGET_SPLIT = "forgotten"
#: The split of the sequential plot's accuracy on unedited facts: other subjects' facts of the
#: edited relations (in a stream, the largest set of unedited facts).
WORLD_SPLIT = "same_relation"
#: A collapse: world accuracy below this fraction of its value at the first checkpoint.
COLLAPSE_FRACTION = 0.5
#: A disabling edit: a batch whose update norm exceeds this multiple of the median before it.
DISABLING_FACTOR = 10.0
#: How faint one model's own value is drawn (the mean over models is opaque).
FAINT = 0.3
#: Points of one panel at the same update rank are spread by up to this factor (log2 units)
#: so that none hides another (issue 23: LoRA rank 1 hidden under ROME at 2^0).
DODGE = 0.12


def _colour(names: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10" if len(set(names)) <= 10 else "tab20")
    n = 10 if len(set(names)) <= 10 else 20
    return {x: cmap(i % n) for i, x in enumerate(sorted(set(names)))}


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def _markers(names: list[str]) -> dict[str, str]:
    return {x: _MARKERS[i % len(_MARKERS)] for i, x in enumerate(sorted(set(names)))}


def _err(e: ReplicateEstimate) -> list[list[float]]:
    if math.isnan(e.lo) or math.isnan(e.hi):
        return [[0.0], [0.0]]
    return [[max(e.value - e.lo, 0.0)], [max(e.hi - e.value, 0.0)]]


def _models_note(n: int) -> str:
    return f"{n} model{'s' * (n != 1)}"


def _legend_right(fig: Figure, handles: dict[str, Any], title: str | None = None) -> None:
    """One figure legend naming every series, in a margin added at the right that is wide
    enough for its longest label (nothing drawn under it, nothing cut off)."""
    longest = max([len(k) for k in handles] + [len(title or "")])
    reserve = 0.35 + 0.05 * longest  # inches: ~0.05 in per character at 7 pt
    width = fig.get_figwidth() + reserve
    fig.set_figwidth(width)
    fig.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="upper left",
        bbox_to_anchor=(1 - reserve / width + 0.005, 0.97),
        fontsize=7,
        title=title,
        title_fontsize=7,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1 - reserve / width, 0.97 if fig.get_suptitle() else 1))


#: Legend entry for the faint per-model marks.
FAINT_HANDLE_LABEL = "one trained model (faint)"


# -- rank vs success / remaining accuracy ---------------------------------------------------------
@dataclass
class RankPoint:
    editor: str  # editor name (marker)
    label: str  # editor setting (colour, legend)
    rank: float  # mean over runs of the measured update rank
    efficacy: ReplicateEstimate
    damage: dict[str, ReplicateEstimate]  # DAMAGE_SPLITS present -> remaining accuracy


def _setting(
    per_run: dict[str, RunValue], rids: list[str], info: dict[str, dict[str, Any]]
) -> ReplicateEstimate:
    return estimate(model_values(per_run, rids, info))


def rank_data(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[RankPoint]]:
    """(scenario, world | model) -> one point per editor setting: update rank against edit
    success (EFFICACY_SPLIT) and remaining accuracy on each of DAMAGE_SPLITS, each over the
    setting's trained models."""
    info = runs(rows)
    rank = scalar(rows, "update_rank")
    eff = run_values(rows, "efficacy", "efficacy", EFFICACY_SPLIT)
    spec = {s: run_values(rows, "specificity", "specificity", s) for s in DAMAGE_SPLITS}
    cps: dict[str, set[Any]] = defaultdict(set)
    for r in rows:
        if r.get("group") != "cost" and r.get("phase") != "pre":
            cps[r["run_id"]].add(r.get("checkpoint"))
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for rid, m in info.items():
        if rid in rank and rid in eff and len(cps[rid]) == 1:
            groups[(m["scenario"], f"{m['world']} | {m['model']}", m["editor"])].append(rid)
    out: dict[tuple[str, str], list[RankPoint]] = defaultdict(list)
    for (scen, wm, label), rids in sorted(groups.items()):
        mean_rank = sum(rank[x] for x in rids) / len(rids)
        out[(scen, wm)].append(
            RankPoint(
                info[rids[0]]["editor_name"],
                label,
                mean_rank,
                _setting(eff, rids, info),
                {s: _setting(v, rids, info) for s, v in spec.items() if any(r in v for r in rids)},
            )
        )
    return dict(out)


def _dodged(points: list[RankPoint]) -> dict[str, float]:
    """label -> x: points at the same rank spread symmetrically around it (log2 scale)."""
    by_rank: dict[float, list[str]] = defaultdict(list)
    for p in points:
        by_rank[round(max(p.rank, 0.8), 6)].append(p.label)
    out = {}
    for x, labels in by_rank.items():
        for j, lab in enumerate(sorted(labels)):
            out[lab] = x * 2 ** ((j - (len(labels) - 1) / 2) * DODGE)
    return out


def plot_rank(data: dict[tuple[str, str], list[RankPoint]]) -> Figure:
    """One column per (scenario, world | model): edit success (top) and remaining accuracy on
    each of DAMAGE_SPLITS (one row each) against the measured rank of the update: each
    setting's models faint, their mean with its 95% interval over models."""
    keys = sorted(data)
    damage = [s for s in DAMAGE_SPLITS if any(s in p.damage for k in keys for p in data[k])]
    n_rows = 1 + len(damage)
    fig, axes = plt.subplots(
        n_rows, len(keys), figsize=(3.8 * len(keys) + 0.6, 3 * n_rows), squeeze=False, sharey="row"
    )
    labels = [p.label for k in keys for p in data[k]]
    colours = _colour(labels)
    markers = _markers([p.editor for k in keys for p in data[k]])
    handles: dict[str, Any] = {}
    for j, key in enumerate(keys):
        xs = _dodged(data[key])
        for i, split in enumerate((None, *damage)):
            ax = axes[i][j]
            for p in data[key]:
                e = p.efficacy if split is None else p.damage.get(split)
                if e is None or math.isnan(e.value):
                    continue
                c, mk, x = colours[p.label], markers[p.editor], xs[p.label]
                if e.n_models > 1:
                    ax.scatter(
                        [x] * len(e.per_model), e.per_model, color=c, marker=mk, s=12, alpha=FAINT
                    )
                h = ax.errorbar(
                    [x], [e.value], yerr=_err(e), fmt=mk, color=c, capsize=3, ms=6, mec="k", mew=0.5
                )
                handles.setdefault(f"{p.label} ({_models_note(e.n_models)})", h)
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"{key[0]} | {key[1]}", fontsize=9)
            if i == n_rows - 1:
                ax.set_xlabel("update rank (measured)")
    axes[0][0].set_ylabel(f"edit success ({EFFICACY_SPLIT})")
    for i, split in enumerate(damage, start=1):
        axes[i][0].set_ylabel(f"remaining accuracy\n({split})")
    handles[FAINT_HANDLE_LABEL] = Line2D([], [], ls="", marker="o", color="grey", alpha=FAINT)
    _legend_right(fig, handles, "editor setting (mean, 95% interval)")
    return fig


# -- layer x module heatmaps ------------------------------------------------------------------------
@dataclass
class Heatmap:
    title: str
    layers: list[int]
    modules: list[str]
    values: list[list[float]]  # [module][layer]: mean over models, NaN where not run
    n_models: int = 1


def heatmap_data(rows: list[dict[str, Any]]) -> list[Heatmap]:
    """Per (editor name, scenario, world | model, metric): edit success and remaining accuracy
    (means over trained models) by the layer and module an edit was confined to (only editors
    swept over >= 2 sites)."""
    info = runs(rows)
    metrics = {
        f"edit success ({EFFICACY_SPLIT})": run_values(
            rows, "efficacy", "efficacy", EFFICACY_SPLIT
        ),
        **{
            f"remaining accuracy ({s})": run_values(rows, "specificity", "specificity", s)
            for s in DAMAGE_SPLITS
        },
    }
    cells: dict[tuple[str, str, str], dict[tuple[int, str], list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for rid, m in info.items():
        s = site(m["config"])
        if s is not None and m["status"] == "ok":
            cells[(m["editor_name"], m["scenario"], f"{m['world']} | {m['model']}")][s].append(rid)
    out = []
    for (ed, scen, wm), sites in sorted(cells.items()):
        if len(sites) < 2:
            continue
        layers = sorted({s[0] for s in sites})
        modules = sorted({s[1] for s in sites})
        for name, per_run in metrics.items():
            ests = {k: _setting(per_run, v, info) for k, v in sites.items()}
            vals = [
                [ests[(la, mo)].value if (la, mo) in ests else math.nan for la in layers]
                for mo in modules
            ]
            if all(math.isnan(v) for row in vals for v in row):
                continue  # the scenario has no such split: no empty map
            n = max(e.n_models for e in ests.values())
            out.append(Heatmap(f"{ed}: {name} | {scen} | {wm}", layers, modules, vals, n))
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
        ax.set_title(f"{hm.title} ({_models_note(hm.n_models)})", fontsize=8)
        for i, row in enumerate(hm.values):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
        fig.colorbar(im, ax=ax, fraction=0.04, label="mean over models")
    for k in range(n, rows_ * cols):
        axes[k // cols][k % cols].axis("off")
    fig.tight_layout()
    return fig


# -- sequential editing -----------------------------------------------------------------------------
@dataclass
class Curve:
    """One stream run: values after every evaluation; checkpoint 0 is the unedited model (drawn
    when the table has its ``pre`` rows)."""

    editor: str  # editor setting label
    seed: int
    checkpoints: list[int]
    retention: list[float]  # edit success on the edits applied so far
    world_accuracy: list[float]  # accuracy on unedited facts
    disabling: list[int]  # checkpoints of disabling edits
    collapse: int | None  # first checkpoint of collapse
    unit: ModelKey = ("", "", 0)


def sequential_data(rows: list[dict[str, Any]]) -> dict[str, list[Curve]]:
    """scenario | world | model -> one curve per stream run (Gupta et al. 2024, arXiv
    2401.07453): retention of the edits applied so far (EFFICACY_SPLIT) and accuracy on
    unedited facts (WORLD_SPLIT; one split, never pooled with others) after every evaluation,
    starting from the unedited model at 0 edits where the table has its ``pre`` rows, with
    disabling edits (an update-norm jump, > DISABLING_FACTOR x the median batch update before
    it) and the collapse (world accuracy < COLLAPSE_FRACTION x the unedited model's, or its
    first value when the table lacks it) marked."""
    wanted = {
        ("efficacy", "efficacy", EFFICACY_SPLIT): "ret",
        ("specificity", "specificity", WORLD_SPLIT): "acc",
    }
    by_run: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    )
    for r in rows:
        if r.get("value") is None:
            continue
        key = wanted.get((str(r.get("metric")), str(r.get("group")), str(r.get("split"))))
        if r.get("phase") == "pre":
            if key is not None:
                acc = by_run[r["run_id"]][f"pre_{key}"][0]
                acc[0] += float(r["value"]) * int(r["n"])
                acc[1] += int(r["n"])
            continue
        if r.get("checkpoint") is None:
            continue
        if (r.get("metric"), r.get("group")) == ("batch_update_fro", "cost"):
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
        pre_acc = d["pre_acc"][0] if "pre_acc" in d else None
        base = pre_acc[0] / pre_acc[1] if pre_acc else acc[0]  # the unedited model, else first
        collapse = next((c for c, a in zip(cps, acc) if a < COLLAPSE_FRACTION * base), None)
        if pre_acc and "pre_ret" in d and 0 not in cps:  # the pre-edit point at 0 edits
            pre_ret = d["pre_ret"][0]
            cps, ret, acc = [0, *cps], [pre_ret[0] / pre_ret[1], *ret], [base, *acc]
        m = info[rid]
        out[f"{m['scenario']} | {m['world']} | {m['model']}"].append(
            Curve(m["editor"], int(m["seed"]), cps, ret, acc, disabling, collapse, m["unit"])
        )
    return dict(out)


@dataclass
class _Series:
    """One editor setting of a sequential plot: per model (seeds averaged) and the mean."""

    per_model: dict[ModelKey, tuple[list[int], list[float], list[float]]] = field(
        default_factory=dict
    )
    disabling: dict[ModelKey, list[int]] = field(default_factory=dict)
    collapse: dict[ModelKey, int] = field(default_factory=dict)


def _series(curves: list[Curve]) -> dict[str, _Series]:
    by: dict[str, dict[ModelKey, list[Curve]]] = defaultdict(lambda: defaultdict(list))
    for c in curves:
        by[c.editor][c.unit].append(c)
    out: dict[str, _Series] = {}
    for label, models in sorted(by.items()):
        s = _Series()
        for unit, cs in sorted(models.items()):
            cps = sorted(set.intersection(*(set(c.checkpoints) for c in cs)))
            ret = [sum(c.retention[c.checkpoints.index(x)] for c in cs) / len(cs) for x in cps]
            acc = [sum(c.world_accuracy[c.checkpoints.index(x)] for c in cs) / len(cs) for x in cps]
            s.per_model[unit] = (cps, ret, acc)
            s.disabling[unit] = sorted({d for c in cs for d in c.disabling})
            first = [c.collapse for c in cs if c.collapse is not None]
            if first:
                s.collapse[unit] = min(first)
        out[label] = s
    return out


def plot_sequential(curves: list[Curve], title: str) -> Figure:
    """Retention and accuracy on unedited facts against edits applied: per editor setting, one
    faint line per trained model (labelled r<replicate> at its end), the mean over models bold
    with its 95% band over models (Student-t; from 2 models)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    series = _series(curves)
    colours = _colour(list(series))
    handles: dict[str, Any] = {}
    for label, s in series.items():
        c = colours[label]
        for unit, (cps, ret, acc) in s.per_model.items():
            for ax, ys in zip(axes, (ret, acc)):
                alpha = FAINT if len(s.per_model) > 1 else 0.9
                ax.plot(cps, ys, "-", color=c, alpha=alpha, lw=1)
                if len(s.per_model) > 1:
                    ax.annotate(
                        f"r{unit[2]}",
                        (cps[-1], ys[-1]),
                        fontsize=6,
                        color=c,
                        alpha=0.8,
                        xytext=(2, 0),
                        textcoords="offset points",
                    )
                for d in s.disabling.get(unit, []):
                    ax.axvline(d, color=c, ls=":", lw=1, alpha=0.6)
                if unit in s.collapse and s.collapse[unit] in cps:
                    y = ys[cps.index(s.collapse[unit])]
                    ax.plot([s.collapse[unit]], [y], "x", color=c, ms=9, mew=2)
        n = len(s.per_model)
        if n > 1:
            common = sorted(set.intersection(*(set(v[0]) for v in s.per_model.values())))
            for ax, idx in zip(axes, (1, 2)):
                ests = [
                    across_models([v[idx][v[0].index(x)] for v in s.per_model.values()])
                    for x in common
                ]
                ax.plot(common, [e.value for e in ests], "-", color=c, lw=2.5)
                ax.fill_between(
                    common, [e.lo for e in ests], [e.hi for e in ests], color=c, alpha=0.15, lw=0
                )
        handles[f"{label} (mean of {_models_note(n)})" if n > 1 else f"{label} (1 model)"] = Line2D(
            [], [], color=c, lw=2.5 if n > 1 else 1
        )
    if any(len(s.per_model) > 1 for s in series.values()):
        handles["one trained model rN (faint)"] = Line2D([], [], color="grey", alpha=FAINT)
        handles["95% interval over models"] = Patch(color="grey", alpha=0.15)
    if any(s.disabling.get(u) for s in series.values() for u in s.per_model):
        handles["disabling edit"] = Line2D([], [], color="grey", ls=":")
    if any(s.collapse for s in series.values()):
        handles["collapse"] = Line2D([], [], color="grey", ls="", marker="x", ms=8, mew=2)
    axes[0].set_ylabel(f"retention of applied edits ({EFFICACY_SPLIT})")
    axes[1].set_ylabel(f"accuracy on unedited facts ({WORLD_SPLIT})")
    for ax in axes:
        ax.set_xlabel("edits applied (0: unedited model)")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    _legend_right(fig, handles)
    return fig


# -- unlearning trade-off ---------------------------------------------------------------------------
@dataclass
class TradeoffPoint:
    editor: str
    label: str
    forget: (
        ReplicateEstimate  # forget_accuracy: still answers the forgotten fact (lower = forgotten)
    )
    retain: ReplicateEstimate  # accuracy on unedited facts
    per_model: list[tuple[float, float]]  # (forget, retain) of each trained model


def unlearning_data(rows: list[dict[str, Any]]) -> dict[str, list[TradeoffPoint]]:
    """scenario | world | model -> per editor setting: how much was forgotten (FORGET_SPLIT)
    against what was kept (RETAIN_SPLIT), over the setting's trained models."""
    info = runs(rows)
    forget = run_values(rows, "forget_accuracy", "forgetting", FORGET_SPLIT)
    keep = run_values(rows, "specificity", "specificity", RETAIN_SPLIT)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rid, m in info.items():
        if rid in forget and rid in keep:
            key = f"{m['scenario']} | {m['world']} | {m['model']}"
            groups[(key, m["editor"])].append(rid)
    out: dict[str, list[TradeoffPoint]] = defaultdict(list)
    for (key, label), rids in sorted(groups.items()):
        f, k = model_values(forget, rids, info), model_values(keep, rids, info)
        out[key].append(
            TradeoffPoint(
                info[rids[0]]["editor_name"],
                label,
                estimate(f),
                estimate(k),
                [(f[u].value, k[u].value) for u in f if u in k],
            )
        )
    return dict(out)


def plot_unlearning(data: dict[str, list[TradeoffPoint]]) -> Figure:
    """Forgetting against retention per editor setting: each model faint, the mean over models
    with its 95% intervals over models in both directions."""
    keys = sorted(data)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.8 * len(keys) + 0.4, 4.2), squeeze=False)
    colours = _colour([p.label for k in keys for p in data[k]])
    markers = _markers([p.editor for k in keys for p in data[k]])
    handles: dict[str, Any] = {}
    for ax, key in zip(axes[0], keys):
        for p in data[key]:
            c, mk = colours[p.label], markers[p.editor]
            if len(p.per_model) > 1:
                ax.scatter(*zip(*p.per_model), color=c, marker=mk, s=12, alpha=FAINT)
            h = ax.errorbar(
                [p.forget.value],
                [p.retain.value],
                xerr=_err(p.forget),
                yerr=_err(p.retain),
                fmt=mk,
                color=c,
                capsize=3,
                mec="k",
                mew=0.5,
            )
            handles.setdefault(f"{p.label} ({_models_note(p.forget.n_models)})", h)
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(f"forgotten facts still answered ({FORGET_SPLIT}; lower = forgotten)")
        ax.set_ylabel(f"accuracy on retained facts ({RETAIN_SPLIT})")
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    handles[FAINT_HANDLE_LABEL] = Line2D([], [], ls="", marker="o", color="grey", alpha=FAINT)
    _legend_right(fig, handles, "editor setting (mean, 95% interval)")
    return fig
