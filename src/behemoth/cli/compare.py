"""``behemoth compare A B``: two runs (``behemoth edit --out``) or two sweeps, side by side.

Per setting (scenario | world | model | editor) found in both, per headline figure and split
(:data:`behemoth.experiments.summary.HEADLINE`: efficacy, generalization, specificity,
locality, portability, forgetting, membership): A's and B's estimate with its 95% interval,
built as the report builds it (:mod:`behemoth.report.data`: each trained model's value, then
:func:`behemoth.replicates.across_models` over models; one model: its within-run interval),
and the difference B - A. When A and B ran the same setting on the same trained models (the
same replicates of the same recipes, at least two), the difference is also paired over models
(:func:`behemoth.replicates.compare`: the mean paired difference with its Student-t interval,
the probability of improvement P(B > A) of Agarwal et al. 2021, sec. 4.3, and on how many
models B is above A). Two runs with one setting each are compared whatever their settings
(e.g. ROME against MEMIT on one model). Pure: reads the tables, never imports torch.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: At most this many settings are printed (the rest: named by count).
MAX_SETTINGS = 6


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two runs or two sweeps: headline figures side by side with B - A",
        description="A and B: output directories of `behemoth edit` (records.parquet) or of "
        "`behemoth sweep` (results.parquet). Prints per setting and split A, B and B - A; "
        "paired over trained models when both ran the same models.",
    )
    p.add_argument("a", metavar="A", help="a run or sweep directory (the baseline)")
    p.add_argument("b", metavar="B", help="a run or sweep directory (compared with A)")
    p.add_argument("--seed", type=int, default=0, help="seed of the P(B > A) bootstrap")
    p.set_defaults(func=run)


@dataclass
class Side:
    """One directory's rows (completed runs only), run info and settings."""

    path: Path
    title: str
    kind: str  # "run" or "sweep"
    rows: list[dict[str, Any]]
    info: dict[str, dict[str, Any]]
    settings: dict[tuple[str, ...], list[str]]


def load_side(path: str | Path) -> Side:
    """A run or sweep directory -> its :class:`Side` (a one-line error for anything else)."""
    from behemoth.report.data import load_rows, ok_rows, runs

    p = Path(path)
    rows, title = load_rows(p)
    kind = "sweep" if (p / "results.parquet").is_file() else "run"
    if kind == "run":  # one run's several trained models: a run id per (replicate, seed)
        for r in rows:
            r["run_id"] = f"{r['run_id']}-replicate{r['replicate']}"
    rows = ok_rows(rows)
    info = runs(rows)
    settings: dict[tuple[str, ...], list[str]] = {}
    for rid, m in sorted(info.items()):
        key = (m["scenario"], m["world"], m["model"], m["editor"])
        settings.setdefault(key, []).append(rid)
    return Side(p, title, kind, rows, info, settings)


@dataclass
class Line:
    """One figure on one split of one setting pair."""

    name: str
    split: str
    a: Any  # ReplicateEstimate
    b: Any
    paired: Any = None  # behemoth.replicates.Comparison of B against A, when paired

    @property
    def diff(self) -> float:
        return float(self.b.value - self.a.value)


def compare_settings(
    a: Side, ka: tuple[str, ...], b: Side, kb: tuple[str, ...], seed: int = 0
) -> list[Line]:
    """Every headline figure and split measured in both settings: A, B and, when both ran the
    same trained models (two or more), the comparison paired over models."""
    from behemoth.experiments.summary import HEADLINE
    from behemoth.replicates import compare
    from behemoth.report.data import SHARE, estimate, model_values, run_values, splits_of

    out = []
    for name, group, metric, _better in HEADLINE:
        splits = [
            s for s in splits_of(a.rows, metric, group) if s in splits_of(b.rows, metric, group)
        ]
        bounds = SHARE  # every headline figure is a share (an AUC too)
        for split in splits:
            ma = model_values(
                run_values(a.rows, metric, group, split), a.settings[ka], a.info, bounds
            )
            mb = model_values(
                run_values(b.rows, metric, group, split), b.settings[kb], b.info, bounds
            )
            if not ma or not mb:
                continue
            ea, eb = estimate(ma, bounds), estimate(mb, bounds)
            paired = None
            if set(ma) == set(mb) and len(ma) >= 2:
                units = sorted(ma)
                paired = compare(
                    [mb[u].value for u in units], [ma[u].value for u in units], bounds, seed
                )
            out.append(Line(name, split, ea, eb, paired))
    return out


def _est(e: Any) -> str:
    if math.isnan(e.value):
        return "-"
    ci = "" if math.isnan(e.lo) or math.isnan(e.hi) else f" [{e.lo:.3f}, {e.hi:.3f}]"
    return f"{e.value:.3f}{ci}"


def _paired(c: Any) -> str:
    if c is None:
        return ""
    d = c.diff
    ci = "" if math.isnan(d.lo) else f" [{d.lo:+.3f}, {d.hi:+.3f}]"
    p = "" if math.isnan(c.p_improve) else f" P(B>A) {c.p_improve:.2f}"
    return f"{d.value:+.3f}{ci}{p}; B > A on {c.wins} of {c.n_models} models"


def table(lines: list[Line]) -> str:
    """The lines of one setting pair as text."""
    paired = any(x.paired is not None for x in lines)
    head = f"  {'':<15} {'split':<22} {'A':>21} {'B':>21} {'B - A':>7}"
    if paired:
        head += "  paired over models: B - A [95% t], P(B>A)"
    out = [head]
    for x in lines:
        d = "-" if math.isnan(x.diff) else f"{x.diff:+.3f}"
        row = f"  {x.name:<15} {x.split:<22} {_est(x.a):>21} {_est(x.b):>21} {d:>7}"
        if x.paired is not None:
            row += "  " + _paired(x.paired)
        out.append(row)
    return "\n".join(out)


def pairs(a: Side, b: Side) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The settings to compare: those in both; else, when each side has exactly one, those."""
    both = [k for k in a.settings if k in b.settings]
    if both:
        return [(k, k) for k in both]
    if len(a.settings) == 1 and len(b.settings) == 1:
        return [(next(iter(a.settings)), next(iter(b.settings)))]
    return []


def compare_text(a: Side, b: Side, seed: int = 0) -> str:
    """The printed comparison of two directories (one screen for up to MAX_SETTINGS)."""
    from behemoth.errors import BehemothError

    found = pairs(a, b)
    if not found:
        raise BehemothError(
            f"B: {b.path} shares no setting (scenario | world | model | editor) with A "
            f"({a.path}) and one of them holds several; compare two runs, or two sweeps of the "
            "same settings"
        )
    out = [
        f"A: {a.path} ({a.kind}, {len(a.info)} runs)",
        f"B: {b.path} ({b.kind}, {len(b.info)} runs)",
    ]
    for ka, kb in found[:MAX_SETTINGS]:
        label = " | ".join(ka) if ka == kb else f"A {' | '.join(ka)}  vs  B {' | '.join(kb)}"
        lines = compare_settings(a, ka, b, kb, seed)
        out.append(f"{label} ({len(a.settings[ka])} vs {len(b.settings[kb])} runs)")
        out.append(table(lines) if lines else "  no headline figure measured in both")
    if len(found) > MAX_SETTINGS:
        out.append(f"... {len(found) - MAX_SETTINGS} more settings in both: see each report")
    only = len(a.settings) + len(b.settings) - 2 * len(found)
    if only > 0 and found[0][0] == found[0][1]:
        out.append(f"{only} settings are in one directory only (not compared)")
    out.append(
        _wrap(
            "legend: shares of prompts (as `behemoth edit` prints them); each value: estimate [95% "
            "interval] after editing at the final checkpoint: over trained models (Student t) when "
            "there are several, else the run's within-run interval; B - A the difference of the "
            "estimates; paired: over the same trained models (behemoth.replicates.compare)"
        )
    )
    return "\n".join(out)


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 100, subsequent_indent="  ")


def run(args: argparse.Namespace) -> int:
    a, b = load_side(args.a), load_side(args.b)
    print(compare_text(a, b, args.seed))
    print(f"the full tables: behemoth report {args.a} / behemoth report {args.b}")
    return 0
