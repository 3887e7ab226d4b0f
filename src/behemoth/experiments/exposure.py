"""The ``exposure`` study (issue 25): how well each fact is learned against how often it was seen.

:func:`score_facts` scores one trained model on every S-O fact of its world: the world's probe
set of the trained statement template (``sro``, or the trained template of a ``simple_repeats``
or ``nonsense`` world, ``behemoth.world.probes.probe_templates``) holds one prompt per edge, row
``s * R + r``, which is the S-O fact id of ``behemoth.world.exclude.fact_ids``; the batched
scorer (``behemoth.model.scoring.score``) gives the greedy next token (``correct``: it is the
object's answer token, the paper's probe accuracy per fact) and the object's log-probability
(``loss`` = its negative, in nats). ``exposure`` is ``behemoth.world.exposure.fact_exposure``
at the fact. The per-fact frame is what ``behemoth.analysis.exposure.learning_curves`` bins.

``python -m behemoth.experiments.exposure --out DIR [--shared DIR] [--scale paper] [--dry-run]``
runs the sweep preset ``exposure`` (through :func:`behemoth.experiments.sweep.runner.run_sweep`,
into ``DIR/sweep``), scores every trained model of it per fact and writes ``DIR/exposure/``:
``learning.parquet`` (the per-fact frame, one row per world, replicate and fact),
``learning.md`` (accuracy and loss per exposure bin over replicates, the 50% / 99% crossings),
``learning.png`` and, from the sweep's items, ``editing.md`` / ``editing_<metric>.png`` (efficacy
against the edited fact's exposure, specificity against the tested fact's), and the sections and
plots of the editing analyses of :mod:`behemoth.analysis.exposure`: the LoRA rank an edit needs
(``editing_rank.png``), the fine-tuning steps it needs (``editing_steps.png``, when the sweep
kept them) and retention under sequential editing (``editing_retention.png``). docs/exposure.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from behemoth.analysis import exposure as ax
from behemoth.errors import BehemothError
from behemoth.io import read_json

if TYPE_CHECKING:
    import torch

    from behemoth.world import World


def score_facts(
    model: torch.nn.Module,
    world: World,
    replicate: int = 0,
    batch_size: int = 1024,
    template: str | None = None,
) -> pd.DataFrame:
    """One row per S-O fact: ``replicate, fact, subject, relation, exposure, correct, loss``
    (loss: the object's NLL in nats), on the probes of ``template`` (default: the world's
    training template). The capacity study scores its models with it too."""
    from behemoth.model.scoring import score
    from behemoth.world.exclude import fact_ids
    from behemoth.world.exposure import fact_exposure
    from behemoth.world.probes import KIND_SO, probe_templates

    template = template or probe_templates(world.config)[0][0]
    probes = world.probes[template]
    got = score(model, probes, probes.answer, batch_size=batch_size)
    kind = np.full(len(probes), KIND_SO, dtype=np.int64)
    ids = fact_ids(world.graph, kind, probes.subject, probes.relation, probes.object)
    counts = fact_exposure(world)
    return pd.DataFrame(
        {
            "replicate": np.full(len(probes), replicate, dtype=np.int64),
            "fact": ids.astype(np.int64),
            "subject": probes.subject.astype(np.int64),
            "relation": probes.relation.astype(np.int64),
            "exposure": counts[ids].astype(np.int64),
            "correct": got.correct(probes.answer),
            "loss": -got.target_logprob[:, 0],
        }
    )


PRESET = "exposure"
SECONDS_PER_RUN = 23.4  # bench/bench_study.py: worker time per run at the CPU scale
# Stream runs (one edit per batch, evaluated every ``eval_every`` edits) cost per edit and per
# checkpoint: worker seconds of the `sequential` study's 20 runs (README, "Sequential editing":
# 40-edit streams evaluated every 4, tiny model, 300 subjects, load 8-11, so an upper bound):
# edit_s / 40 per editor, eval_s / 10 per checkpoint, load + prepare + reference per run.
STREAM_EDIT_SECONDS = {"rome": 2.17, "memit": 2.74, "alphaedit": 2.76, "ft": 11.0}
STREAM_CHECKPOINT_SECONDS = 5.41
STREAM_RUN_SECONDS = 1.8
WORKERS = 2  # the quiet 2-core machine: one run per core


def run_seconds(run: Any) -> float:
    """Estimated worker seconds of one sweep run (a ``RunSpec``): a stream run from its edits,
    checkpoints and editor (``STREAM_*``; an editor not measured there at the dearest per-edit
    figure), any other run at ``SECONDS_PER_RUN``."""
    e = run.experiment
    if e.scenario != "stream":
        return SECONDS_PER_RUN
    cfg = e.scenario_config(None)
    batches = -(-int(cfg.n) // int(cfg.batch_size))
    every = e.eval_every or batches
    checkpoints = batches // every + (1 if batches % every else 0)
    per_edit = STREAM_EDIT_SECONDS.get(e.editor, max(STREAM_EDIT_SECONDS.values()))
    return STREAM_RUN_SECONDS + int(cfg.n) * per_edit + checkpoints * STREAM_CHECKPOINT_SECONDS


def plan_text(runs: list[Any], scale: str | None) -> str:
    """The dry run's one line: runs per world, stream runs, and (CPU scale) the estimate."""
    worlds = pd.Series([r.labels["world"] for r in runs]).value_counts().sort_index()
    streams = sum(r.experiment.scenario == "stream" for r in runs)
    plan = f"{len(runs)} runs ({', '.join(f'{w}: {n}' for w, n in worlds.items())}"
    plan += f"; {streams} of them streams)"
    if scale is not None:
        return plan + f"; scale {scale}: no measured time per run (the figures are CPU scale)"
    total = sum(run_seconds(r) for r in runs)
    return plan + (
        f"; ~{total / 60:.0f} min of worker time (~{total / 60 / WORKERS:.0f} min on "
        f"{WORKERS} workers): {SECONDS_PER_RUN} s per run, streams from the sequential study's "
        "per-edit and per-checkpoint times (loaded machines: upper bounds); model and oracle "
        "training apart"
    )


def learning_markdown(
    facts: pd.DataFrame, by: Sequence[str] = ("world",), base: float = 2.0
) -> str:
    """``learning.md``: per world, accuracy and loss per exposure bin over replicates (mean
    [t interval] SD, models and facts) and the 50% / 99% crossings (k of n reaching them)."""
    curves = ax.learning_curves(facts, by, base)
    out = ["# Learning against exposure", ""]
    out.append(
        f"Facts binned by exposure (occurrences per corpus pass) in powers of {base:g}; each "
        "trained model is one unit: mean over models [Student-t 95% interval] sd."
    )
    acc = ax.across_replicates(curves, "accuracy")
    loss = ax.across_replicates(curves, "loss", bounds=None).set_index([*_keys(acc), "bin"])
    table = ax.crossing_summary(ax.crossings(curves))
    for key, part in acc.groupby(_keys(acc), sort=True) if _keys(acc) else [((), acc)]:
        name = ", ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        out += ["", f"## {name or 'all'}", "", "| exposure | accuracy | loss (nats) |"]
        out.append("|---|---|---|")
        for _, row in part.iterrows():
            idx = (*(key if isinstance(key, tuple) else (key,)), row["bin"])
            span = f"[{row['lo_edge']:g}, {row['hi_edge']:g})" if row["bin"] >= 0 else "0"
            out.append(f"| {span} | {row['cell']} | {loss.loc[idx, 'cell']} |")
        sel = table
        for k, v in zip(_keys(acc), key if isinstance(key, tuple) else (key,), strict=False):
            sel = sel[sel[k] == v]
        out += ["", "| level | exposure reached (geometric mean [t interval]) | reached |"]
        out.append("|---|---|---|")
        for _, c in sel.iterrows():
            where = "-" if c["reached"] == 0 else f"{c['exposure']:.3g} ({c['method']})"
            if c["reached"] > 1 and c["method"].startswith("t over"):
                where = f"{c['exposure']:.3g} [{c['lo']:.3g}, {c['hi']:.3g}]"
            out.append(
                f"| {c['level']:.0%} | {where} | {c['reached']} of {c['n']} "
                f"(below the smallest bin: {c['below']}, not reached: {c['not_reached']}) |"
            )
    return "\n".join(out) + "\n"


def _keys(frame: pd.DataFrame) -> list[str]:
    fixed = {"bin", "position", "lo_edge", "hi_edge", "mean", "ci_low", "ci_high", "sd"}
    return [c for c in frame.columns if c not in fixed | {"n_models", "n_items", "cell"}]


def plot_curves(curves: pd.DataFrame, columns: list[str], group: str, title: str) -> Any:
    """One panel per column: each replicate faint, the mean over replicates with its t band,
    one colour per ``group`` value; exposure on a log axis (bins of unseen facts left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 3.6), squeeze=False)
    for ax_, col in zip(axes[0], columns, strict=True):
        _draw(ax_, curves, col, group, (0.0, 1.0) if col != "loss" else None)
        ax_.set_ylabel(col)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw(
    ax_: Any,
    curves: pd.DataFrame,
    col: str,
    group: str,
    bounds: tuple[float, float] | None,
    order: Sequence[str] | None = None,
) -> None:
    """One panel: per ``group`` value each replicate faint, the mean over replicates bold with
    its t band (its label names the series; series in ``order``, else sorted); exposure on a
    log axis, unseen facts left out."""
    seen = curves[curves["position"] > 0]
    names = [g for g in (order or sorted(seen[group].unique(), key=str)) if g in set(seen[group])]
    for i, g in enumerate(names):
        part = seen[seen[group] == g]
        colour = f"C{i % 10}"
        style = "-" if i < 10 else "--"
        for _, rep in part.groupby("replicate"):
            ax_.plot(rep["position"], rep[col], color=colour, ls=style, alpha=0.25, lw=0.8)
        mean = ax.across_replicates(part.drop(columns=[group]), col, bounds=bounds)
        ax_.plot(
            mean["position"],
            mean["mean"],
            color=colour,
            ls=style,
            lw=2,
            marker="o",
            ms=4,
            label=str(g),
        )
        ax_.fill_between(mean["position"], mean["ci_low"], mean["ci_high"], color=colour, alpha=0.2)
    ax_.set_xscale("log")
    ax_.set_xlabel("exposure (occurrences per corpus pass)")
    ax_.legend(fontsize=7)


def plot_panels(
    curves: pd.DataFrame,
    panel: str,
    group: str,
    title: str,
    ylabel: str,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    order: Sequence[str] | None = None,
) -> Any:
    """One panel per ``panel`` value, one series per ``group`` value (in ``order``, else
    sorted), of the ``value`` column of curves shaped like
    :func:`behemoth.analysis.exposure.metric_curves` (each replicate faint, the mean with its t
    band, exposure on a log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(curves[panel].unique(), key=str)
    fig, axes = plt.subplots(1, len(names), figsize=(max(5 * len(names), 6.5), 4.2), squeeze=False)
    for ax_, name in zip(axes[0], names, strict=True):
        part = curves[curves[panel] == name].drop(columns=[panel])
        _draw(ax_, part, "value", group, bounds, order)
        ax_.set_title(str(name), fontsize=9)
        ax_.set_ylabel(ylabel)
    fig.suptitle(f"{title}\nfaint: each trained model; bold: the mean over models, t 95% band",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig


def editing_curves(items: pd.DataFrame) -> pd.DataFrame:
    """Efficacy against the edited fact's exposure and specificity against the tested fact's,
    per world label, editor label, replicate and bin (``metric`` column says which). A stream's
    items count at its final checkpoint only (its earlier checkpoints are retention's)."""
    if {"run_id", "edits_applied"} <= set(items.columns):
        last = items.groupby("run_id")["edits_applied"].transform("max")
        items = items[items["edits_applied"] == last]
    parts = []
    for metric in ("efficacy", "specificity"):
        if (items["metric"] == metric).any():
            c = ax.metric_curves(items, metric, by=["label_world", "label_editor"])
            parts.append(c.assign(metric=metric))
    if not parts:
        raise BehemothError("items: no efficacy or specificity item with an exposure")
    return pd.concat(parts, ignore_index=True)


def editing_markdown(edits: pd.DataFrame) -> str:
    """``editing.md``: per metric, world and editor, the value per exposure bin over replicates
    (mean [t interval] SD, models and items), from :func:`editing_curves`."""
    table = ax.across_replicates(edits, "value")
    out = [
        "# Editing against exposure",
        "",
        "Efficacy: the edited fact's exposure; "
        "specificity: the tested fact's. Each trained model is one unit.",
        "",
        "| metric | world | editor | exposure | value over models |",
        "|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        span = f"[{row['lo_edge']:g}, {row['hi_edge']:g})" if row["bin"] >= 0 else "0"
        out.append(
            f"| {row['metric']} | {row['label_world']} | {row['label_editor']} | {span} "
            f"| {row['cell']} |"
        )
    return "\n".join(out) + "\n"


# -- the editing analyses: rank, steps, retention ---------------------------------------------
#: Where a sweep run's trainer info is: ``run.json["batches"][i]["info"]`` (the layout of a
#: run's ``edit.json``), written by the sweep runner since this study needed it; a sweep made
#: before that has none, and the report says so.
STEPS = (0.0, float("inf"))  # a step count's interval is clipped at 0
STEPS_NOT_KEPT = (
    "This sweep kept no fine-tuning step counts: its runs' `run.json` has no `batches` (a sweep "
    "made before the runner kept the editor's info); rerun its fine-tuning runs to get them."
)


def run_table(rows: pd.DataFrame, metas: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """Per run of a sweep (from its rows' ``config`` JSON): ``run_id, editor, scenario, rank``
    (LoRA's rank, else NA), ``family`` (the editor label without its ``rank=`` grid value),
    ``steps, finished`` (from ``metas[run_id]``, a run's ``run.json``, where it holds the
    trainer's info: ``batches[i].info.steps`` and ``nll``; else NA)."""
    import json
    import re

    one = rows.drop_duplicates("run_id")
    out = []
    for _, r in one.iterrows():
        cfg = json.loads(r["config"])
        settings = cfg["editor"]["settings"]
        steps, finished = _steps_of((metas or {}).get(r["run_id"]), settings)
        out.append(
            {
                "run_id": r["run_id"],
                "editor": cfg["editor"]["name"],
                "scenario": cfg["scenario"]["name"],
                "rank": settings.get("rank") if cfg["editor"]["name"] == "lora" else None,
                "family": re.sub(r" rank=\S+", "", str(r["label_editor"])),
                "steps": steps,
                "finished": finished,
            }
        )
    cols = ["run_id", "editor", "scenario", "rank", "family", "steps", "finished"]
    table = pd.DataFrame(out, columns=cols)
    table["rank"] = table["rank"].astype("Int64")
    return table


def _steps_of(meta: dict[str, Any] | None, settings: dict[str, Any]) -> tuple[Any, Any]:
    """(steps, finished) of a run's trainer info in ``meta`` (summed over its batches;
    finished: every edit's final NLL below ``stop_nll``), or (None, None) if it holds none."""
    infos = [b.get("info") or {} for b in (meta or {}).get("batches", [])]
    if not infos or any("steps" not in i for i in infos):
        return None, None
    steps = sum(int(i["steps"]) for i in infos)
    stop = float(settings.get("stop_nll", 0.05))
    nll = [x for i in infos for x in i.get("nll", [])]
    done = (
        all(x < stop for x in nll)
        if nll
        else all(int(i["steps"]) < int(settings.get("steps", 50)) for i in infos)
    )
    return steps, done


def editing_analyses(items: pd.DataFrame, runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rank, steps and retention analyses of the sweep's ``items`` (``runs``: its
    :func:`run_table`): ``rank`` (per fact, :func:`~behemoth.analysis.exposure.rank_needed` over
    the LoRA runs of one family, world, model, scenario, replicate and seed) and ``rank_curves``
    (per world and scenario kind), ``steps`` (single-edit fine-tuning runs, when kept) and
    ``retention`` (stream runs, per world, editor, checkpoint and band). A part the sweep did
    not run is absent."""
    joined = items.merge(runs, on="run_id", how="left", validate="many_to_one")
    out: dict[str, pd.DataFrame] = {}
    lora = joined[(joined["editor"] == "lora") & (joined["scenario"] != "stream")]
    if not lora.empty:
        by = ["label_world", "label_model", "family", "scenario", "label_scenario", "seed"]
        needed = ax.rank_needed(lora, by=by)
        out["rank"] = needed
        out["rank_curves"] = pd.concat(
            [
                ax.rank_curves(part, by=["label_world", "family", "scenario"])
                for _, part in needed.groupby("grid", sort=True)
            ],
            ignore_index=True,
        )
    ft = runs[(runs["editor"] == "ft") & (runs["scenario"] == "single") & runs["steps"].notna()]
    if not ft.empty:
        labels = items.drop_duplicates("run_id").set_index("run_id")
        keep = ["label_world", "label_editor", "label_scenario", "replicate"]
        ft = ft.join(labels[keep], on="run_id")
        out["steps"] = ax.steps_needed(ft[["run_id", "steps", "finished", *keep]], items)
    streams = joined[joined["scenario"] == "stream"]
    if not streams.empty:
        by = ["label_world", "label_editor", "label_scenario", "seed"]
        out["retention"] = ax.retention(streams, by=by)
    relearned = (
        items[(items["group"] == RELEARN_GROUP) & (items["metric"] == "answered_after")]
        if "group" in items.columns
        else items.iloc[:0]
    )
    if not relearned.empty:
        # per held-back fact: answered after the relearning attack (0 / 1), by the model attacked
        out["relearning"] = relearned.rename(columns={"split": "attacked"})[
            ["label_world", "label_editor", "label_scenario", "attacked", "replicate", "edit"]
            + ["exposure", "value"]
        ]
    return out


#: the sweep's relearning rows and items (``behemoth.evaluation.unlearning.relearn``)
RELEARN_GROUP = "relearning"


def _span(row: pd.Series) -> str:
    return f"[{row['lo_edge']:g}, {row['hi_edge']:g})" if row["bin"] >= 0 else "0"


def _band(row: pd.Series) -> str:
    return f"{row['label_scenario']} ({row['lo_edge']:g}-{row['hi_edge']:g})"


BAND_KEYS = ["label_world", "label_editor"]


def _band_section(curves: pd.DataFrame, title: str, text: str, heads: tuple[str, str]) -> list[str]:
    """A section of ``editing.md`` from :func:`~behemoth.analysis.exposure.band_curves` grouped
    by world, editor and one more key (the last of its group columns): one row per group and
    band, the value over models."""
    key = curves.columns[curves.columns.get_loc("label_scenario") - 1]
    table = ax.across_replicates(curves, "value")
    out = ["", f"## {title}", "", text, ""]
    out += [
        f"| world | editor | band (exposure) | {heads[0]} | {heads[1]} |",
        "|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        out.append(
            f"| {row['label_world']} | {row['label_editor']} | {_band(row)} "
            f"| {row[key]} | {row['cell']} |"
        )
    return out


def editing_sections(parts: dict[str, pd.DataFrame], steps_kept: bool = True) -> str:
    """The rank, steps and retention sections of ``editing.md`` (each over trained models:
    mean [t interval] SD, models, items)."""
    out: list[str] = []
    if "rank" in parts:
        needed, curves = parts["rank"], parts["rank_curves"]
        table = ax.across_replicates(curves, "value")
        out += [
            "",
            "## The LoRA rank an edit needs",
            "",
            "Per edited fact, the smallest rank of the grid at which its edit takes (every "
            "efficacy item answered with the new object), from the LoRA runs of one scenario on "
            "one model (the same edits at every rank); per exposure bin, the share of the "
            "edited facts taking at a rank <= r, per model, then over models.",
            "",
            "| world | editor | scenario | exposure | rank <= | share of edits taking |",
            "|---|---|---|---|---|---|",
        ]
        for _, row in table.iterrows():
            out.append(
                f"| {row['label_world']} | {row['family']} | {row['scenario']} | {_span(row)} "
                f"| {row['rank_at_most']} | {row['cell']} |"
            )
        none = needed[needed["status"] == ax.NONE_IN_GRID]
        odd = needed[(needed["status"] == ax.TAKEN) & ~needed["monotone"]]
        out += [
            "",
            f"Edited facts: {len(needed)}; taking nowhere in the grid: {len(none)}; taking at a "
            f"rank but not at every larger one: {len(odd)}.",
        ]
    out += ["", "## Fine-tuning steps an edit needs", ""]
    if "steps" in parts:
        per = parts["steps"]
        by = ["label_world", "label_editor"]
        steps = ax.across_replicates(ax.band_curves(per, "steps", by), "value", bounds=STEPS)
        done = ax.across_replicates(
            ax.band_curves(per.assign(finished=per["finished"].astype(float)), "finished", by),
            "value",
        ).set_index([*by, "label_scenario"])
        out += [
            "Adam steps until the edit's NLL fell below `stop_nll` (single-edit fine-tuning "
            "runs), per exposure band of the edited fact; runs that ran out of steps are left "
            "out of the mean and counted as not finished.",
            "",
            "| world | editor | band (exposure) | steps over models | finished |",
            "|---|---|---|---|---|",
        ]
        for _, row in steps.iterrows():
            fin = done.loc[(row["label_world"], row["label_editor"], row["label_scenario"])]
            out.append(
                f"| {row['label_world']} | {row['label_editor']} | {_band(row)} | {row['cell']} "
                f"| {fin['cell']} |"
            )
    else:
        out.append(STEPS_NOT_KEPT if not steps_kept else "No single-edit fine-tuning run.")
    if "retention" in parts:
        out += _band_section(
            ax.band_curves(parts["retention"], "retained", BAND_KEYS + ["edits_applied"]),
            "Retention under sequential editing",
            "Streams of single edits from one exposure band; at each checkpoint the share of the "
            "edits applied so far still answered with their new object, per model, then over "
            "models.",
            ("edits applied", "retention over models"),
        )
    if "relearning" in parts:
        out += _band_section(
            ax.band_curves(parts["relearning"], "value", BAND_KEYS + ["attacked"]),
            "Relearning: which forgotten facts come back",
            "After unlearning, the relearning attack (the sweep's `relearn`) fine-tunes each model "
            "on a share of the forgotten facts; per held-back fact, whether it is answered "
            "afterwards, per exposure band of the forgotten facts, per model, then over models. "
            "`unlearned`: the unlearned model; `oracle`, `oracle_2`: the retain oracles, which "
            "never saw the facts (the baseline). Far above the oracles: the facts were hidden, "
            "not removed.",
            ("model attacked", "answered after relearning"),
        )
    return "\n".join(out) + "\n"


def editing_figures(parts: dict[str, pd.DataFrame]) -> list[tuple[str, Any]]:
    """``editing_rank.png`` (a panel per scenario kind, a series per world and rank),
    ``editing_steps.png`` and ``editing_retention.png`` (a panel per editor, a series per world
    and checkpoint), for the parts present."""
    figures = []
    if "rank_curves" in parts:
        c = parts["rank_curves"]
        c = c.sort_values(["label_world", "family", "rank_at_most"], kind="stable")
        c = c.assign(
            kind=c["scenario"],
            series=c["label_world"]
            + " / "
            + c["family"]
            + ", rank <= "
            + c["rank_at_most"].astype(str),
        ).drop(columns=["scenario", "label_world", "family", "rank_at_most"])
        order = list(pd.unique(c["series"]))  # ranks in numeric order
        fig = plot_panels(
            c, "kind", "series", "Edits taking at a LoRA rank <= r", "share of edits", order=order
        )
        figures.append(("editing_rank.png", fig))
    if "steps" in parts:
        c = ax.band_curves(parts["steps"], "steps", ["label_world", "label_editor"])
        c = c.assign(panel="single edit", series=c["label_world"] + " / " + c["label_editor"])
        c = c.drop(columns=["label_world", "label_editor", "label_scenario"])
        fig = plot_panels(
            c, "panel", "series", "Fine-tuning steps an edit needs", "Adam steps", STEPS
        )
        figures.append(("editing_steps.png", fig))
    if "retention" in parts:
        by = ["label_world", "label_editor", "edits_applied"]
        c = ax.band_curves(parts["retention"], "retained", by)
        c = c.sort_values(["label_world", "edits_applied"], kind="stable")
        c = c.assign(
            series=c["label_world"] + ", after " + c["edits_applied"].astype(str) + " edits"
        ).drop(columns=["label_world", "edits_applied", "label_scenario"])
        fig = plot_panels(
            c,
            "label_editor",
            "series",
            "Retention under sequential editing",
            "edits retained",
            order=list(pd.unique(c["series"])),  # checkpoints in numeric order
        )
        figures.append(("editing_retention.png", fig))
    if "relearning" in parts:
        c = ax.band_curves(
            parts["relearning"], "value", ["label_world", "label_editor", "attacked"]
        )
        c = c.sort_values(["label_world", "attacked"], kind="stable")
        c = c.assign(series=c["label_world"] + " / " + c["attacked"]).drop(
            columns=["label_world", "attacked", "label_scenario"]
        )
        fig = plot_panels(
            c,
            "label_editor",
            "series",
            "Forgotten facts answered after the relearning attack",
            "held-back facts answered",
            order=list(pd.unique(c["series"])),
        )
        figures.append(("editing_relearning.png", fig))
    return figures


def _plan(scale: str | None) -> tuple[Any, list[Any]]:
    from behemoth.experiments.sweep.spec import expand, load_spec

    spec = load_spec(PRESET, scale)
    return spec, expand(spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m behemoth.experiments.exposure", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--out", required=True, help="the study's directory")
    ap.add_argument("--shared", default=None, help="where worlds and models are built once")
    ap.add_argument("--scale", default=None, help="paper: the preset's paper scale")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    args = ap.parse_args(argv)
    try:
        spec, runs = _plan(args.scale)
        if args.dry_run:
            print(plan_text(runs, args.scale))
            return 0
        run_study(spec, runs, Path(args.out), args.shared)
    except BehemothError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def run_study(spec: Any, runs: list[Any], out: Path, shared: str | None) -> None:
    """The sweep, then per-fact scores of every trained model and the report files."""
    from behemoth import results
    from behemoth.experiments.replicates import shared_model, shared_world
    from behemoth.experiments.sweep.runner import run_sweep
    from behemoth.model import load_model

    share = Path(shared) if shared else out / "shared"
    run_sweep(spec, out / "sweep", shared=share)
    frames = []
    done: set[tuple[str, str]] = set()
    for r in runs:
        key = (r.labels["world"], r.labels["replicate"])
        if key in done:
            continue
        done.add(key)
        world = shared_world(share, r.experiment.world.resolved())
        model, _ = load_model(shared_model(share, world, r.experiment.model.resolved()), world)
        frames.append(score_facts(model, world, int(key[1])).assign(world=key[0]))
    facts = pd.concat(frames, ignore_index=True)
    rows = results.load(out / "sweep")
    metas = {}
    for run_id in rows.loc[rows["run_id"].str.startswith("ft-"), "run_id"].unique():
        f = out / "sweep" / "runs" / str(run_id) / "run.json"
        if f.is_file():
            metas[str(run_id)] = read_json(f, "a sweep run's run.json")
    items = results.load(out / "sweep", what="items")
    write_report(facts, items, out / "exposure", run_table(rows, metas))


def write_report(
    facts: pd.DataFrame, items: pd.DataFrame, dest: Path, runs: pd.DataFrame | None = None
) -> None:
    """Write the study's files into ``dest`` (replaced whole, only once every file is written;
    a directory that is not such a report is refused): ``learning.parquet`` / ``.md`` /
    ``.png``, ``editing.md`` and ``editing_<metric>.png``; with ``runs`` (the sweep's
    :func:`run_table`) also the rank, steps and retention sections of ``editing.md`` and
    ``editing_rank.png`` / ``editing_steps.png`` / ``editing_retention.png`` for the parts the
    sweep ran. Same input, same bytes."""
    from behemoth.io import atomic_dir, write_png

    edits = editing_curves(items)
    parts = editing_analyses(items, runs) if runs is not None else {}
    ours = (dest / "learning.parquet").is_file()  # replace a report, never other files
    with atomic_dir(dest, force=ours, marker="learning.parquet", what="an exposure report") as tmp:
        facts.to_parquet(tmp / "learning.parquet", index=False)
        (tmp / "learning.md").write_text(learning_markdown(facts))
        curves = ax.learning_curves(facts, ["world"])
        figures = [("learning.png", plot_curves(curves, ["accuracy", "loss"], "world", "Learning"))]
        for metric, part in edits.groupby("metric"):
            part = part.drop(columns=["metric"])
            part = part.assign(group=part["label_world"] + " / " + part["label_editor"])
            part = part.drop(columns=["label_world", "label_editor"])
            part = part.rename(columns={"value": metric})
            fig = plot_curves(part, [metric], "group", f"{metric} against exposure")
            figures.append((f"editing_{metric}.png", fig))
        figures += editing_figures(parts)
        for name, fig in figures:
            write_png(fig, tmp / name, dpi=120)
        md = editing_markdown(edits)
        if runs is not None:
            md += editing_sections(parts, steps_kept=bool(runs["steps"].notna().any()))
        (tmp / "editing.md").write_text(md)


if __name__ == "__main__":
    raise SystemExit(main())
