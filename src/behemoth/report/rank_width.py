"""The LoRA rank an edit needs, against the model's width and its load (issue 25).

Behemoth (Iofinova & Alistarh, arXiv 2601.23153) sweeps the rank of a LoRA update (Hu et al.
2021, arXiv 2106.09685, Sec. 4.1: ``W + (alpha / r) B A``, rank <= r) from 1 to the full width
and reads off where edits start to take: on Pythia-31m (width 256) single and identical edits at
rank 32, ten different edits at rank 64 or more. This module asks of a sweep with several widths
(``presets/sweep/rank-width.yaml``) whether that rank grows with the width, or with the load the
model carries: facts per parameter.

From a sweep's results table (pure: rows in, data out; no torch):

- per trained model (world, model recipe, replicate), scenario and rank: edit success, the
  ``efficacy`` of split ``sro`` at the run's final checkpoint (:func:`behemoth.report.data.
  run_values`; several seeds of one model averaged over their items);
- the **needed rank** of a model: the smallest rank whose edit success is >= ``threshold``
  (default 0.9, the report's "edit worked" bar, :data:`behemoth.report.data.FINDINGS`), the
  first crossing in increasing rank; None when no rank reaches it. The collateral damage at
  that rank: the drop in accuracy on unedited facts, unedited minus edited (``specificity``
  ``pre`` - ``post``), on each of :data:`DAMAGE_SPLITS` (never pooled);
- across models: :func:`behemoth.replicates.across_models` of the needed ranks of the models
  that reach the threshold (mean, Student-t 95% interval over models, clipped to [1, width],
  between-model SD), the per-model ranks, and "reaches on k of n models"; the damage likewise;
- the load: facts (subjects x relations: every subject has one object per relation) per
  non-embedding parameter of the model (the transformer blocks and the final LayerNorm, as
  Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Sec. 2.1, count N; the input
  embedding and the head grow with the vocabulary, i.e. with the world, and are left out).

Full fine-tuning (``ft``, ``part: all``) of the same models is the full-rank reference: its edit
success is reported beside each needed rank and drawn as a dashed line.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from behemoth.errors import ConfigError  # noqa: E402
from behemoth.replicates import ReplicateEstimate, across_models  # noqa: E402
from behemoth.report.data import (  # noqa: E402
    ModelKey,
    RunValue,
    estimate,
    model_values,
    ok_rows,
    run_values,
    runs,
)

#: Edit success a rank must reach (the report's "success >= 0.9").
THRESHOLD = 0.9
#: The split of edit success: the edited prompt itself.
EFFICACY_SPLIT = "sro"
#: The splits of collateral damage, each on its own: the edited subjects' other facts, and other
#: subjects' facts of the edited relation.
DAMAGE_SPLITS = ("same_subject", "same_relation")
#: Bounds of a difference of two shares (unedited - edited accuracy).
DIFF = (-1.0, 1.0)


def block_parameters(model: dict[str, Any]) -> int:
    """Non-embedding parameters of a GPT-NeoX of this geometry (``ModelConfig`` fields ``layers,
    width, mlp``): per block the fused QKV projection (3w x w + 3w), the attention output
    (w x w + w), the MLP (w x mlp + mlp, mlp x w + w) and two LayerNorms (4w), plus the final
    LayerNorm (2w). Equal to counting the parameters of ``GPTNeoXForCausalLM`` other than
    ``embed_in`` and the head (checked for the three study geometries: 200,064, 1,189,888 and
    4,739,072)."""
    w, m, n = int(model["width"]), int(model["mlp"]), int(model["layers"])
    per_block = (3 * w * w + 3 * w) + (w * w + w) + (w * m + m) + (m * w + w) + 4 * w
    return n * per_block + 2 * w


def world_facts(world: dict[str, Any]) -> int:
    """Facts of a world config: every subject has one object per relation."""
    return int(world["subjects"]) * int(world["relations"])


@dataclass(frozen=True)
class Line:
    """One model recipe on one world: what its points share (a line of the plots)."""

    model: str  # the sweep's label of the model recipe
    world: str  # the sweep's label of the world
    width: int
    facts: int
    params: int  # block (non-embedding) parameters

    @property
    def load(self) -> float:
        """Facts per block parameter."""
        return self.facts / self.params

    @property
    def name(self) -> str:
        return f"width {self.width} | {self.world}: {self.load:.1e} facts/param"


@dataclass
class Curve:
    """Edit success against LoRA rank of one line on one scenario: per trained model, rank ->
    value; full fine-tuning's per-model value beside it."""

    line: Line
    scenario: str
    per_model: dict[ModelKey, dict[int, float]] = field(default_factory=dict)
    full: dict[ModelKey, RunValue] = field(default_factory=dict)
    points: dict[int, ReplicateEstimate] = field(default_factory=dict)  # rank -> over models

    @property
    def ranks(self) -> list[int]:
        return sorted(self.points)


@dataclass(frozen=True)
class NeededRank:
    """The smallest rank reaching the threshold, per model and across models."""

    line: Line
    scenario: str
    threshold: float
    per_model: dict[ModelKey, int | None]  # None: no rank up to the largest swept reaches it
    rank: ReplicateEstimate  # over the models that reach it
    damage: dict[str, ReplicateEstimate]  # split -> unedited - edited accuracy at that rank
    full: ReplicateEstimate  # full fine-tuning's edit success
    max_rank: int

    @property
    def k(self) -> int:
        return sum(r is not None for r in self.per_model.values())

    @property
    def n(self) -> int:
        return len(self.per_model)

    def text(self) -> str:
        """``16.0 [...] sd ...; reaches on 3 of 3 models`` or, when no model reaches it, says
        so with the largest rank tried."""
        if self.k == 0:
            return (
                f"no rank up to {self.max_rank} reaches {self.threshold:g} "
                f"(0 of {self.n} model{'s' * (self.n != 1)})"
            )
        return f"{self.rank.fmt()}; reaches on {self.k} of {self.n} model{'s' * (self.n != 1)}"


@dataclass
class RankWidth:
    """Everything the section needs: the curves and the needed ranks, one per (line,
    scenario), in a stable order (scenario, width, world)."""

    threshold: float
    curves: list[Curve]
    needed: list[NeededRank]
    order: list[str] = field(default_factory=list)  # scenario labels as the table lists them

    @property
    def widths(self) -> list[int]:
        return sorted({c.line.width for c in self.curves})


def _as_rows(table: Any) -> list[dict[str, Any]]:
    """A results table as rows: a pandas DataFrame (nulls as None) or rows already."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        frame = table.astype(object).where(table.notna(), None)
        return list(frame.to_dict("records"))
    return list(table)


def _role(info: dict[str, Any]) -> tuple[str, int] | None:
    """("lora", rank) or ("full", 0) for the runs this analysis reads, else None."""
    settings = info["config"].get("editor", {}).get("settings", {})
    if info["editor_name"] == "lora" and "rank" in settings:
        return "lora", int(settings["rank"])
    if info["editor_name"] == "ft" and settings.get("part") == "all" and not settings.get("layers"):
        return "full", 0
    return None


def _line(info: dict[str, Any]) -> Line | None:
    cfg = info["config"]
    try:
        geometry, world = cfg["model"]["model"], cfg["world"]
        return Line(
            info["model"],
            info["world"],
            int(geometry["width"]),
            world_facts(world),
            block_parameters(geometry),
        )
    except (KeyError, TypeError, ValueError):
        return None  # a run's records without the sweep's resolved config


def rank_width_data(table: Any, threshold: float = THRESHOLD) -> RankWidth:
    """From a sweep's results table (DataFrame or rows): edit success against LoRA rank per
    (model recipe, world, scenario) and trained model, and the smallest rank reaching
    ``threshold`` with the collateral damage there (see the module docstring)."""
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(
            "threshold", f"{threshold} is not a share of edits", "give a value in (0, 1], e.g. 0.9"
        )
    rows = ok_rows(_as_rows(table))
    info = runs(rows)
    eff = run_values(rows, "efficacy", "efficacy", EFFICACY_SPLIT)
    post = {s: run_values(rows, "specificity", "specificity", s) for s in DAMAGE_SPLITS}
    pre = {s: run_values(rows, "specificity", "specificity", s, "pre") for s in DAMAGE_SPLITS}
    groups: dict[tuple[Line, str], dict[tuple[str, int], list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for rid, m in info.items():
        role, line = _role(m), _line(m)
        if role is not None and line is not None and rid in eff:
            groups[(line, m["scenario"])][role].append(rid)
    curves, needed = [], []
    first = {s: i for i, s in enumerate(dict.fromkeys(m["scenario"] for m in info.values()))}
    order = sorted(groups, key=lambda k: (first[k[1]], k[0].width, k[0].world, k[0].model))
    for line, scenario in order:
        by_role = groups[(line, scenario)]
        ranks = sorted(r for kind, r in by_role if kind == "lora")
        if not ranks:
            continue
        curve = Curve(line, scenario)
        chosen: dict[ModelKey, dict[int, list[str]]] = defaultdict(dict)
        for r in ranks:
            rids = by_role[("lora", r)]
            per = model_values(eff, rids, info)
            curve.points[r] = estimate(per)
            for unit, v in per.items():
                curve.per_model.setdefault(unit, {})[r] = v.value
                chosen[unit][r] = [x for x in rids if info[x]["unit"] == unit]
        curve.full = model_values(eff, by_role.get(("full", 0), []), info)
        curves.append(curve)
        curves_needed = _needed(curve, chosen, threshold, info, post, pre)
        needed.append(curves_needed)
    return RankWidth(threshold, curves, needed, [c.scenario for c in curves])


def _needed(
    curve: Curve,
    chosen: dict[ModelKey, dict[int, list[str]]],
    threshold: float,
    info: dict[str, dict[str, Any]],
    post: dict[str, dict[str, RunValue]],
    pre: dict[str, dict[str, RunValue]],
) -> NeededRank:
    per_model: dict[ModelKey, int | None] = {}
    drops: dict[str, list[float]] = {s: [] for s in DAMAGE_SPLITS}
    for unit, by_rank in sorted(curve.per_model.items()):
        hit = next((r for r in sorted(by_rank) if by_rank[r] >= threshold - 1e-9), None)
        per_model[unit] = hit
        if hit is None:
            continue
        for s in DAMAGE_SPLITS:
            after = model_values(post[s], chosen[unit][hit], info)
            before = model_values(pre[s], chosen[unit][hit], info)
            if unit in after and unit in before:
                drops[s].append(before[unit].value - after[unit].value)
    reached = [float(r) for r in per_model.values() if r is not None]
    width = curve.line.width
    rank = across_models(reached, bounds=(1.0, float(width)) if width > 1 else None)
    return NeededRank(
        curve.line,
        curve.scenario,
        threshold,
        per_model,
        rank,
        {s: across_models(v, bounds=DIFF) for s, v in drops.items() if v},
        estimate(curve.full),
        max(curve.ranks),
    )


def several_widths(data: RankWidth) -> bool:
    """Whether the sweep swept LoRA ranks on models of more than one width (the section's
    condition in the report)."""
    return len(data.widths) > 1


# -- tables --------------------------------------------------------------------------------------
HEAD = [
    "scenario",
    "world",
    "model",
    "width",
    "facts",
    "block params",
    "facts / param",
    f"needed rank: mean [95% t over models] sd (edit success >= threshold on {EFFICACY_SPLIT})",
    "needed rank per model",
    *[f"damage at that rank ({s}): unedited - edited" for s in DAMAGE_SPLITS],
    f"full fine-tuning: edit success ({EFFICACY_SPLIT})",
]


def needed_table(data: RankWidth) -> tuple[list[str], list[list[str]]]:
    """The needed-rank table: a row per (scenario, world, model recipe)."""
    body = []
    for nr in data.needed:
        per = ", ".join(
            f"r{u[2]}: {'-' if r is None else r}" for u, r in sorted(nr.per_model.items())
        )
        body.append(
            [
                nr.scenario,
                nr.line.world,
                nr.line.model,
                str(nr.line.width),
                f"{nr.line.facts:,}",
                f"{nr.line.params:,}",
                f"{nr.line.load:.2e}",
                nr.text(),
                per,
                *[nr.damage[s].fmt() if s in nr.damage else "-" for s in DAMAGE_SPLITS],
                nr.full.fmt(),
            ]
        )
    return HEAD, body


def markdown_table(data: RankWidth) -> str:
    """:func:`needed_table` as a markdown table, its threshold stated above it."""
    head, body = needed_table(data)
    esc = [[c.replace("|", "\\|") for c in row] for row in [head, *body]]
    lines = [
        f"Needed rank: the smallest LoRA rank whose edit success is >= {data.threshold:g}, "
        "per trained model; then over models (r0, r1, ...: replicates; -: no rank reaches it).",
        "",
        "| " + " | ".join(esc[0]) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(r) + " |" for r in esc[1:]),
    ]
    return "\n".join(lines) + "\n"


# -- plots ---------------------------------------------------------------------------------------
def _legend_right(fig: Figure, handles: dict[str, Any]) -> None:
    """One legend naming every series, in a margin added at the right wide enough for its
    longest label (~0.065 in per character at 7 pt)."""
    reserve = 0.5 + 0.065 * max(len(k) for k in handles)
    width = fig.get_figwidth() + reserve
    fig.set_figwidth(width)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="upper left",
        bbox_to_anchor=(1 - reserve / width + 0.005, 0.97),
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1 - reserve / width, 1))


def _scenarios(data: RankWidth) -> list[str]:
    """Scenario labels in the order the table first names them (the spec's order)."""
    return list(dict.fromkeys(data.order))


def _colours(lines: Iterable[Line]) -> dict[Line, Any]:
    cmap = plt.get_cmap("tab10")
    order = sorted(set(lines), key=lambda x: (x.width, x.world, x.model))
    return {x: cmap(i % 10) for i, x in enumerate(order)}


def plot_rank_curves(data: RankWidth) -> Figure:
    """Edit success against LoRA rank (log2 x), one panel per scenario, a line per (width,
    world): each trained model faint, the mean over models bold with its 95% t-band over
    models; full fine-tuning's mean dashed; the threshold dotted."""
    scen = _scenarios(data)
    fig, axes = plt.subplots(1, len(scen), figsize=(4 * len(scen) + 3, 3.6), squeeze=False)
    colours = _colours(c.line for c in data.curves)
    handles: dict[str, Any] = {}
    for ax, s in zip(axes[0], scen, strict=True):
        for c in (c for c in data.curves if c.scenario == s):
            col = colours[c.line]
            for by_rank in c.per_model.values():
                xs = sorted(by_rank)
                ax.plot(xs, [by_rank[x] for x in xs], color=col, alpha=0.25, lw=0.8)
            xs = c.ranks
            mean = [c.points[x].value for x in xs]
            lo = [
                c.points[x].lo if not math.isnan(c.points[x].lo) else c.points[x].value for x in xs
            ]
            hi = [
                c.points[x].hi if not math.isnan(c.points[x].hi) else c.points[x].value for x in xs
            ]
            ax.fill_between(xs, lo, hi, color=col, alpha=0.15, lw=0)
            n = max(p.n_models for p in c.points.values())
            handles[f"{c.line.name} ({n})"] = ax.plot(xs, mean, color=col, lw=2, marker="o", ms=4)[
                0
            ]
            full = estimate(c.full)
            if full.n_models:
                ax.axhline(full.value, color=col, ls="--", lw=1)
        ax.axhline(data.threshold, color="grey", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(s, fontsize=10)
        ax.set_xlabel("LoRA rank (mlp_out)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"edit success ({EFFICACY_SPLIT})")
    handles["(n): trained models; each one faint"] = Line2D([], [], color="grey", alpha=0.4)
    handles["full fine-tuning, mean (dashed)"] = Line2D([], [], color="grey", ls="--")
    handles[f"threshold {data.threshold:g} (dotted)"] = Line2D([], [], color="grey", ls=":")
    _legend_right(fig, handles)
    return fig


def plot_needed_rank(data: RankWidth) -> Figure:
    """The needed rank (log2 y) against facts per parameter (top row, log x) and against width
    (bottom row, log2 x), one column per scenario: each trained model faint, the mean over the
    models that reach the threshold with its 95% t-interval; a line that no model reaches is
    marked x at the top, every point annotated "k/n" (models reaching it)."""
    scen = _scenarios(data)
    fig, axes = plt.subplots(
        2, len(scen), figsize=(4 * len(scen) + 3, 6.4), squeeze=False, sharey=True
    )
    colours = _colours(nr.line for nr in data.needed)
    top = max((nr.max_rank for nr in data.needed), default=1) * 2
    handles: dict[str, Any] = {}
    for j, s in enumerate(scen):
        for i, (xname, xof) in enumerate(
            (("facts per block parameter", lambda ln: ln.load), ("width", lambda ln: ln.width))
        ):
            ax = axes[i][j]
            for nr in (x for x in data.needed if x.scenario == s):
                col, x = colours[nr.line], float(xof(nr.line))
                got = [float(r) for r in nr.per_model.values() if r is not None]
                ax.scatter([x] * len(got), got, color=col, alpha=0.3, s=14)
                if nr.k:
                    e = nr.rank
                    lo = e.value if math.isnan(e.lo) else e.lo
                    hi = e.value if math.isnan(e.hi) else e.hi
                    h = ax.errorbar(
                        [x],
                        [e.value],
                        yerr=[[e.value - lo], [hi - e.value]],
                        fmt="o",
                        color=col,
                        capsize=3,
                        mec="k",
                        mew=0.5,
                    )
                    y = e.value
                else:
                    h = ax.scatter([x], [top], marker="x", color=col, s=40)
                    y = top
                ax.annotate(
                    f"{nr.k}/{nr.n}", (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points"
                )
                handles.setdefault(nr.line.name, h)
            ax.set_xscale("log", base=10 if i == 0 else 2)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_yscale("log", base=2)
            ax.grid(alpha=0.3)
            ax.set_xlabel(xname)
            if i == 0:
                ax.set_title(s, fontsize=10)
        axes[0][0].set_ylabel(f"needed rank (success >= {data.threshold:g})")
        axes[1][0].set_ylabel(f"needed rank (success >= {data.threshold:g})")
    handles["one trained model (faint)"] = Line2D(
        [], [], ls="", marker="o", color="grey", alpha=0.4
    )
    handles["no rank reaches it (x, at the top)"] = Line2D([], [], ls="", marker="x", color="grey")
    _legend_right(fig, handles)
    return fig


def main(argv: list[str] | None = None) -> int:
    """``python -m behemoth.report.rank_width SWEEP_DIR [THRESHOLD]``: print the markdown table
    (bad input: one line and exit code 2)."""
    import sys

    from behemoth.errors import BehemothError
    from behemoth.report.data import load_rows

    args = sys.argv[1:] if argv is None else argv
    try:
        if not args or len(args) > 2:
            raise ConfigError(
                "SWEEP_DIR", "missing or extra arguments", "give SWEEP_DIR [THRESHOLD]"
            )
        try:
            threshold = float(args[1]) if len(args) > 1 else THRESHOLD
        except ValueError:
            raise ConfigError(
                "THRESHOLD", f"{args[1]!r} is not a number", "give e.g. 0.9"
            ) from None
        rows, _ = load_rows(Path(args[0]))
        table = markdown_table(rank_width_data(rows, threshold))
    except BehemothError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
