"""The data behind a report: a sweep's table (or one run's records) as rows, and estimates.

Pure Python over ``pyarrow``; no torch. Accuracy-type metrics (a mean of 0/1 items) are pooled
over the seeds of one setting, within one split (never across splits), as successes / items,
and given a Wilson score interval (Wilson 1927, "Probable inference, the law of succession,
and statistical inference", JASA 22: the interval p in which |p_hat - p| <= z sqrt(p(1-p)/n),
solved for p), which stays inside [0, 1] and is sensible for n = 1 and for p_hat in {0, 1},
where the normal interval is not.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from behemoth.errors import BehemothError
from behemoth.intervals import Z95
from behemoth.intervals import wilson as wilson_interval


@dataclass(frozen=True)
class Estimate:
    """A pooled proportion with its 95% Wilson interval; ``n`` items behind it."""

    value: float
    lo: float
    hi: float
    n: int

    def fmt(self) -> str:
        if self.n == 0 or math.isnan(self.value):
            return "-"
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}]"

    def cell(self) -> str:
        """A printed table's cell: the value, its 95% interval and n (``-`` without data)."""
        text = self.fmt()
        return text if text == "-" else f"{text} n={self.n}"


def wilson(successes: float, n: int, z: float = Z95) -> Estimate:
    """Wilson score interval of ``successes`` out of ``n`` (see the module docstring)."""
    if n <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    lo, hi = wilson_interval(successes, n, z)
    return Estimate(min(max(successes / n, lo), hi), lo, hi, n)


def load_rows(source: str | Path) -> tuple[list[dict[str, Any]], str]:
    """Rows of a sweep (``results.parquet``) or of one run (``records.parquet``), and a title.

    One run's records get the columns a sweep adds (labels from its own fields), so every plot
    reads both alike.
    """
    p = Path(source)
    if (p / "results.parquet").is_file():
        rows = pq.read_table(p / "results.parquet").to_pylist()
        title = p.name
        if (p / "sweep.json").is_file():
            title = json.loads((p / "sweep.json").read_text())["spec"].get("name", p.name)
        return rows, title
    if (p / "records.parquet").is_file():
        rows = pq.read_table(p / "records.parquet").to_pylist()
        total = max((r.get("edits_applied") or 0 for r in rows), default=0)
        for r in rows:
            r.setdefault("run_id", r.get("run", "run"))
            r.setdefault("status", "ok")
            r.setdefault("label_world", str(r.get("world", ""))[:8])
            r.setdefault("label_model", "model")
            r.setdefault("label_scenario", r.get("scenario", ""))
            r.setdefault("label_editor", r.get("editor", "unedited"))
            r.setdefault("seed", 0)
            r.setdefault("config", "{}")
            ea = r.get("edits_applied")
            r.setdefault("checkpoint", ea if ea is not None else total + 1)
        return rows, p.name
    raise BehemothError(
        f"SWEEP_OR_RUN: {p} holds neither results.parquet (a sweep) nor records.parquet (a run); "
        "give the --out directory of `behemoth sweep` or `behemoth edit`"
    )


def ok_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status", "ok") == "ok" and r.get("metric") != "run_failed"]


def final_checkpoint(rows: list[dict[str, Any]]) -> dict[str, int]:
    """run_id -> its last checkpoint (the evaluation after all edits)."""
    out: dict[str, int] = {}
    for r in rows:
        c = r.get("checkpoint")
        if c is not None and r.get("phase") != "pre":
            out[r["run_id"]] = max(out.get(r["run_id"], c), c)
    return out


def pooled(
    rows: list[dict[str, Any]], metric: str, group: str | None, split: str
) -> dict[str, Estimate]:
    """run_id -> the metric on one split at the run's final checkpoint.

    Always one split: splits of different meaning (the edited subject's other facts, the rest
    of the world, ...) are never pooled, since their sizes, not the editor, would set the
    weights (a single edit's specificity is 87% ``other`` items and 0.06% ``same_subject``).
    """
    last = final_checkpoint(rows)
    hits: dict[str, float] = defaultdict(float)
    ns: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.get("metric") != metric or (group is not None and r.get("group") != group):
            continue
        if r.get("split") != split or r.get("phase") == "pre" or r.get("value") is None:
            continue
        if r.get("checkpoint") != last.get(r["run_id"]):
            continue
        hits[r["run_id"]] += float(r["value"]) * int(r["n"])
        ns[r["run_id"]] += int(r["n"])
    return {k: wilson(hits[k], ns[k]) for k in ns}


#: Splits in the order tables list them; splits not named here follow alphabetically.
SPLIT_ORDER = (
    "sro",
    "rso",
    "question_new",
    "qa_new",
    "same_subject",
    "same_value",
    "same_new_value",
    "same_relation",
    "other",
    "forgotten",
    "forgotten_rso",
    "forgotten_question_new",
    "forgotten_qa_new",
    "held_out",
)

#: The headline tables: (title, metric, group); each table has one column per split.
HEADLINES: tuple[tuple[str, str, str], ...] = (
    ("edit success (efficacy)", "efficacy", "efficacy"),
    ("edit success, magnitude (efficacy_score: new beats old)", "efficacy_score", "efficacy"),
    (
        "generalization: the edited fact in other templates and formats",
        "generalization",
        "generalization",
    ),
    ("specificity: accuracy on unedited facts", "specificity", "specificity"),
    ("locality: answers unchanged from the unedited model", "locality", "specificity"),
    (
        "forgetting: share still answered (lower = forgotten; held_out: should stay)",
        "forget_accuracy",
        "forgetting",
    ),
)


def splits_of(rows: Iterable[dict[str, Any]], metric: str, group: str | None) -> list[str]:
    """The splits a metric was measured on (after-edit rows), in SPLIT_ORDER."""
    found = {
        str(r["split"])
        for r in rows
        if r.get("metric") == metric
        and (group is None or r.get("group") == group)
        and r.get("phase") != "pre"
        and r.get("split") is not None
    }
    order = {s: i for i, s in enumerate(SPLIT_ORDER)}
    return sorted(found, key=lambda s: (order.get(s, len(order)), s))


@dataclass
class HeadlineTable:
    """One headline metric: a row per key (cells from ``Estimate.cell``), a column per split."""

    title: str
    head: list[str]
    body: list[list[str]]


def headline_tables(
    rows: list[dict[str, Any]],
    groups: dict[tuple[str, ...], list[str]],
    key_names: list[str],
) -> list[HeadlineTable]:
    """The HEADLINES, one table each, one column per split, never pooled across splits.

    ``groups`` maps a row key (e.g. (scenario, editor)) to the runs pooled into it (seeds of
    one setting: items of the same split and meaning). Keys without data for a metric are left
    out of its table; a split a key lacks is ``-``.
    """
    out = []
    for title, metric, group in HEADLINES:
        splits = splits_of(rows, metric, group)
        per = {s: pooled(rows, metric, group, s) for s in splits}
        body = []
        for key, rids in groups.items():
            cells = [pool_runs(per[s], rids).cell() for s in splits]
            if any(c != "-" for c in cells):
                body.append([*key, *cells])
        if body:
            out.append(HeadlineTable(title, [*key_names, *splits], body))
    return out


def pool_runs(per_run: dict[str, Estimate], runs: Iterable[str]) -> Estimate:
    """Pool several runs' estimates (e.g. seeds) into one: successes / items."""
    runs = [r for r in runs if r in per_run]
    n = sum(per_run[r].n for r in runs)
    return wilson(sum(per_run[r].value * per_run[r].n for r in runs), n)


def scalar(rows: list[dict[str, Any]], metric: str) -> dict[str, float]:
    """run_id -> a one-value metric (e.g. ``update_rank``) at the final checkpoint."""
    last = final_checkpoint(rows)
    return {
        r["run_id"]: float(r["value"])
        for r in rows
        if r.get("metric") == metric
        and r.get("checkpoint") == last.get(r["run_id"])
        and r.get("value") is not None
    }


def runs(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """run_id -> its labels, status, error and parsed config (one entry per run)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["run_id"] in out:
            continue
        out[r["run_id"]] = {
            "world": r.get("label_world", ""),
            "model": r.get("label_model", ""),
            "scenario": r.get("label_scenario", ""),
            "editor": r.get("label_editor", ""),
            "editor_name": r.get("editor") or "",
            "seed": r.get("seed", 0),
            "status": r.get("status", "ok"),
            "error": r.get("error"),
            "mode": r.get("mode") or "",
            "config": json.loads(r.get("config") or "{}"),
        }
    return out


def site(config: dict[str, Any]) -> tuple[int, str] | None:
    """(layer, module) an edit was confined to, when it was confined to one layer."""
    ed = config.get("editor", {})
    s = ed.get("settings", {})
    layers = s.get("layers")
    layer = s.get("layer")
    if layer is None and isinstance(layers, list) and len(layers) == 1:
        layer = layers[0]
    if layer is None or isinstance(layer, list):
        return None
    if "part" in s:
        module = str(s["part"])
    elif "targets" in s:
        module = "+".join(s["targets"])
    else:
        module = "mlp_out"
    return int(layer), module
