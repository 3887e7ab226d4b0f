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
against the edited fact's exposure, specificity against the tested fact's). docs/exposure.md.
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
    seen = curves[curves["position"] > 0]
    for ax_, col in zip(axes[0], columns, strict=True):
        bounds = (0.0, 1.0) if col != "loss" else None
        for i, (g, part) in enumerate(seen.groupby(group, sort=True)):
            colour = f"C{i}"
            for _, rep in part.groupby("replicate"):
                ax_.plot(rep["position"], rep[col], color=colour, alpha=0.25, lw=0.8)
            mean = ax.across_replicates(part.drop(columns=[group]), col, bounds=bounds)
            ax_.plot(
                mean["position"], mean["mean"], color=colour, lw=2, marker="o", ms=4, label=str(g)
            )
            ax_.fill_between(
                mean["position"], mean["ci_low"], mean["ci_high"], color=colour, alpha=0.2
            )
        ax_.set_xscale("log")
        ax_.set_xlabel("exposure (occurrences per corpus pass)")
        ax_.set_ylabel(col)
        ax_.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def editing_curves(items: pd.DataFrame) -> pd.DataFrame:
    """Efficacy against the edited fact's exposure and specificity against the tested fact's,
    per world label, editor label, replicate and bin (``metric`` column says which)."""
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
            worlds = pd.Series([r.labels["world"] for r in runs]).value_counts().sort_index()
            plan = f"{len(runs)} runs ({', '.join(f'{w}: {n}' for w, n in worlds.items())})"
            if args.scale is None:
                plan += (
                    f"; ~{len(runs) * SECONDS_PER_RUN / 60:.0f} min of worker time at "
                    f"{SECONDS_PER_RUN} s per run, model and oracle training apart"
                )
            else:
                plan += f"; scale {args.scale}: no measured time per run (the 23.4 s is CPU scale)"
            print(plan)
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
    write_report(facts, results.load(out / "sweep", what="items"), out / "exposure")


def write_report(facts: pd.DataFrame, items: pd.DataFrame, dest: Path) -> None:
    """Write the study's files into ``dest`` (replaced whole, only once every file is written;
    a directory that is not such a report is refused): ``learning.parquet`` / ``.md`` /
    ``.png``, ``editing.md`` and ``editing_<metric>.png``. Same input, same bytes."""
    import matplotlib.pyplot as plt

    from behemoth.io import atomic_dir

    edits = editing_curves(items)
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
        for name, fig in figures:
            fig.savefig(tmp / name, dpi=120, metadata={"Software": None})
            plt.close(fig)
        (tmp / "editing.md").write_text(editing_markdown(edits))


if __name__ == "__main__":
    raise SystemExit(main())
