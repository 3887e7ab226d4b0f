"""The data behind a report: a sweep's table (or one run's records) as rows, and estimates.

The trained model is the unit of replication (issue 20): a model is (world, model recipe,
replicate), and a setting (scenario, world, model recipe, editor) is measured on each of its
models. Every number a table or plot shows is built in two levels, never by pooling items
across models:

1. Within a model: its value on one split at the run's final checkpoint, as the run's own row
   gives it (the row's ``value``, ``n`` and within-run interval ``ci_low``/``ci_high``). Several
   runs of one model (edit seeds) are averaged weighted by their items, and their intervals
   combined as independent normal errors; a row without an interval gets a Wilson score
   interval over its items (:func:`behemoth.intervals.wilson`), right only for independent
   0/1 items.
2. Across models: :func:`behemoth.replicates.across_models` over the per-model values: the
   mean over models, the Student-t 95% interval over models and the between-model SD. With one
   model there is no between-model interval: the cell shows that model's within-run interval
   and says "1 model".

Thresholded findings (:data:`FINDINGS`) are counted with :func:`behemoth.replicates.holds`:
"holds on k of n models".
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
from behemoth.intervals import Z95, wilson
from behemoth.replicates import ReplicateEstimate, across_models, holds

#: A trained model, the unit of replication: (world label, model recipe label, replicate).
ModelKey = tuple[str, str, int]

#: The bounds of every share metric a report draws (accuracies, success rates).
SHARE = (0.0, 1.0)


def _records_labels(p: Path) -> dict[str, str]:
    """Readable labels of one run (``behemoth edit --out``) from its ``experiment.yaml``: the
    world and model directories' names, the scenario and the editor with its settings."""
    f = p / "experiment.yaml"
    if not f.is_file():
        return {}
    import yaml

    try:
        cfg = yaml.safe_load(f.read_text()) or {}
    except yaml.YAMLError:
        return {}
    if not isinstance(cfg, dict):
        return {}
    out: dict[str, str] = {}
    if cfg.get("model"):
        out["label_model"] = Path(str(cfg["model"])).name
    out["label_world"] = Path(str(cfg.get("world") or "")).name or "the model's world"
    if cfg.get("scenario"):
        out["label_scenario"] = str(cfg["scenario"])
    if cfg.get("editor"):
        out["label_editor"] = str(cfg["editor"])
    return out


#: The columns every row of a run's ``records.parquet`` has (the tidy records, with numbers in
#: ``value``), and those a sweep's ``results.parquet`` adds (the run each row belongs to).
RUN_COLUMNS = ("metric", "split", "value")
SWEEP_COLUMNS = ("run_id", *RUN_COLUMNS)


def _read_rows(path: Path, columns: tuple[str, ...], writer: str) -> list[dict[str, Any]]:
    """The rows of a table ``writer`` wrote, or one line naming the file, what is wrong and the
    fix: not a parquet file, a table of another schema (a missing column, text in ``value``),
    no rows."""
    import pyarrow as pa

    fix = f"give a folder `{writer}` wrote, or write it again with `{writer} ... --out NEW`"
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        why = " ".join(str(e).split())[:160]
        raise BehemothError(f"{path}: not a readable parquet table ({why}); {fix}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise BehemothError(
            f"{path}: a table of another kind (no column {', '.join(missing)}); {fix}"
        )
    kind = table.schema.field("value").type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind)):
        raise BehemothError(f"{path}: column value holds {kind}, not numbers; {fix}")
    if table.num_rows == 0:
        raise BehemothError(f"{path}: the table has no rows; {fix}")
    return table.to_pylist()


def _sweep_title(path: Path) -> str:
    """The sweep's name from its ``sweep.json`` (``{"spec": {"name": ...}, "runs": [...]}``),
    or one line naming the file when it is not such a manifest."""
    from behemoth.io import read_json

    found = read_json(path, "the sweep's manifest")
    spec = found.get("spec") if isinstance(found, dict) else None
    if not isinstance(spec, dict):
        raise BehemothError(
            f'{path}: not a sweep manifest (no "spec" object); resume the sweep '
            "(`behemoth sweep SPEC --out DIR`) to rewrite it, or give another folder"
        )
    return str(spec.get("name") or path.parent.name)


def load_rows(source: str | Path) -> tuple[list[dict[str, Any]], str]:
    """Rows of a sweep (``results.parquet``) or of one run (``records.parquet``), and a title.

    Every row gets an int ``replicate`` (tables written before replicates existed: 0). One
    run's records get the columns a sweep adds, labelled from its ``experiment.yaml`` (the
    world's and model's directory names, the scenario, the editor), so every plot reads both
    alike.
    """
    p = Path(source)
    if (p / "results.parquet").is_file():
        rows = _read_rows(p / "results.parquet", SWEEP_COLUMNS, "behemoth sweep")
        title = p.name
        if (p / "sweep.json").is_file():
            title = _sweep_title(p / "sweep.json")
    elif (p / "records.parquet").is_file():
        rows = _read_rows(p / "records.parquet", RUN_COLUMNS, "behemoth edit")
        labels = _records_labels(p)
        total = max((r.get("edits_applied") or 0 for r in rows), default=0)
        for r in rows:
            seed = r.get("seed")
            run = str(r.get("run", "run"))
            r.setdefault("run_id", run if seed is None else f"{run}-seed{seed}")
            r.setdefault("status", "ok")
            r.setdefault("label_world", labels.get("label_world", "the model's world"))
            r.setdefault("label_model", labels.get("label_model", p.name))
            r.setdefault("label_scenario", labels.get("label_scenario", r.get("scenario", "")))
            r.setdefault("label_editor", labels.get("label_editor", r.get("editor", "unedited")))
            r["seed"] = 0 if seed is None else seed
            r.setdefault("config", "{}")
            ea = r.get("edits_applied")
            r.setdefault("checkpoint", ea if ea is not None else total + 1)
        title = p.name
    else:
        raise BehemothError(
            f"SWEEP_OR_RUN: {p} holds neither results.parquet (a sweep) nor records.parquet (a "
            "run); give the --out directory of `behemoth sweep` or `behemoth edit`"
        )
    for r in rows:
        if r.get("replicate") is None:
            r["replicate"] = 0
    return rows, title


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


# -- level 1: one run, one model -------------------------------------------------------------------
@dataclass(frozen=True)
class RunValue:
    """One run's (or one model's) value on one split, its items and its within-run interval
    (NaN when unknown); ``method`` names how the interval was made."""

    value: float
    n: int
    lo: float
    hi: float
    method: str


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _within(parts: list[RunValue], bounds: tuple[float, float] | None) -> RunValue:
    """Several rows (runs, seeds) of one model -> one value: their item-weighted mean, with
    their intervals combined as independent normal errors (se_i = half-width_i / z, weights
    n_i / N); rows without an interval give a Wilson interval over all items when the metric
    is a share, else none."""
    if len(parts) == 1:
        return parts[0]
    n = sum(p.n for p in parts)
    if n <= 0:
        return RunValue(float("nan"), 0, float("nan"), float("nan"), "no items")
    value = sum(p.value * p.n for p in parts) / n
    if all(not math.isnan(p.lo) and not math.isnan(p.hi) for p in parts):
        se = math.sqrt(sum(((p.n / n) * (p.hi - p.lo) / (2 * Z95)) ** 2 for p in parts))
        lo, hi = value - Z95 * se, value + Z95 * se
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        return RunValue(value, n, lo, hi, f"{len(parts)} runs' intervals combined")
    if bounds == SHARE:
        lo, hi = wilson(value * n, n)
        return RunValue(value, n, lo, hi, f"Wilson over the items of {len(parts)} runs")
    return RunValue(value, n, float("nan"), float("nan"), f"{len(parts)} runs, no interval")


def run_values(
    rows: list[dict[str, Any]],
    metric: str,
    group: str | None,
    split: str,
    phase: str = "post",
    bounds: tuple[float, float] | None = SHARE,
) -> dict[str, RunValue]:
    """run_id -> the metric on one split: after editing (``phase="post"``) at the run's final
    checkpoint, or the unedited model's (``phase="pre"``).

    Always one split: splits of different meaning (the edited subject's other facts, the rest
    of the world, ...) are never pooled, since their sizes, not the editor, would set the
    weights (a single edit's specificity is 87% ``other`` items and 0.06% ``same_subject``).
    """
    last = final_checkpoint(rows)
    parts: dict[str, list[RunValue]] = defaultdict(list)
    for r in rows:
        if r.get("metric") != metric or (group is not None and r.get("group") != group):
            continue
        if r.get("split") != split or r.get("value") is None:
            continue
        if (r.get("phase") == "pre") != (phase == "pre"):
            continue
        if phase != "pre" and r.get("checkpoint") != last.get(r["run_id"]):
            continue
        n = int(r.get("n") or 0)
        lo, hi = _num(r.get("ci_low")), _num(r.get("ci_high"))
        method = "within-run interval"
        if (math.isnan(lo) or math.isnan(hi)) and bounds == SHARE and n > 0:
            lo, hi = wilson(float(r["value"]) * n, n)
            method = "Wilson over items"
        parts[r["run_id"]].append(RunValue(float(r["value"]), n, lo, hi, method))
    return {k: _within(v, bounds) for k, v in parts.items()}


def model_values(
    per_run: dict[str, RunValue],
    rids: Iterable[str],
    info: dict[str, dict[str, Any]],
    bounds: tuple[float, float] | None = SHARE,
) -> dict[ModelKey, RunValue]:
    """The runs ``rids`` of one setting -> one value per trained model (its runs, e.g. edit
    seeds, averaged over their items: edits nested within the model)."""
    by: dict[ModelKey, list[RunValue]] = defaultdict(list)
    for rid in rids:
        if rid in per_run:
            by[info[rid]["unit"]].append(per_run[rid])
    return {k: _within(v, bounds) for k, v in sorted(by.items())}


# -- level 2: across models ------------------------------------------------------------------------
def estimate(
    per_model: dict[ModelKey, RunValue], bounds: tuple[float, float] | None = SHARE
) -> ReplicateEstimate:
    """Across models (:func:`behemoth.replicates.across_models`); with one model, that model's
    own within-run interval (``method`` says so: there is no between-model interval)."""
    vals = [v for v in per_model.values() if not math.isnan(v.value)]
    if len(vals) == 1:
        v = vals[0]
        return ReplicateEstimate(
            v.value, v.lo, v.hi, float("nan"), 1, v.n, (v.value,), f"1 model: {v.method}"
        )
    return across_models([v.value for v in vals], [v.n for v in vals], bounds)


def cell_text(e: ReplicateEstimate) -> str:
    """A table cell: ``0.760 [0.526, 0.994] sd 0.188 (5 models, n=50)``; with one model its
    within-run interval, ``0.800 [0.490, 0.943] (1 model, n=10)``; ``-`` without data."""
    if e.n_models == 0 or math.isnan(e.value):
        return "-"
    if e.n_models == 1:
        ci = "" if math.isnan(e.lo) else f" [{e.lo:.3f}, {e.hi:.3f}]"
        items = f", n={e.n_items}" if e.n_items else ""
        return f"{e.value:.3f}{ci} (1 model{items})"
    return e.cell()


# -- thresholded findings --------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """A threshold finding stated per model: ``value >= threshold`` (``above``) or ``value <=
    threshold``; with ``relative`` the threshold is added to the model's own unedited value on
    the same split (its ``pre`` row), e.g. "kept facts >= the unedited model's - 0.05"."""

    text: str
    threshold: float
    above: bool = True
    relative: bool = False


#: Headline metric -> its finding (split-specific entries as "metric/split" take precedence).
#: Edit success and paraphrase success are the usual "the edit worked" bars (0.9 as in
#: ROME/MEMIT-style efficacy tables; 0.5 for the harder generalization); kept facts may lose at
#: most 0.05 against the same model unedited; locality keeps 95% of answers; a forgotten fact
#: is forgotten when at most 10% of its prompts still give the old answer, while held-out facts
#: must stay within 0.05 of the unedited model.
FINDINGS: dict[str, Finding] = {
    "efficacy": Finding("success >= 0.9", 0.9),
    "efficacy_score": Finding("new beats old >= 0.9", 0.9),
    "generalization": Finding("success >= 0.5", 0.5),
    "specificity": Finding("kept >= unedited - 0.05", -0.05, relative=True),
    "locality": Finding("unchanged >= 0.95", 0.95),
    "forget_accuracy": Finding("still answered <= 0.1", 0.1, above=False),
    "forget_accuracy/held_out": Finding("kept >= unedited - 0.05", -0.05, relative=True),
}

#: Slack so that ">= 0.9" counts a value of exactly 0.9 (holds() compares strictly).
_EPS = 1e-9


def finding_for(metric: str, split: str) -> Finding | None:
    return FINDINGS.get(f"{metric}/{split}", FINDINGS.get(metric))


def finding_holds(
    finding: Finding,
    post: dict[ModelKey, RunValue],
    pre: dict[ModelKey, RunValue] | None = None,
) -> tuple[int, int] | None:
    """(k, n): on how many of the n models the finding holds; None when it cannot be judged
    (a relative finding without the unedited model's values)."""
    if finding.relative:
        if not pre:
            return None
        vals = [v.value - pre[k].value for k, v in post.items() if k in pre]
        if not vals:
            return None
    else:
        vals = [v.value for v in post.values()]
    t = finding.threshold - _EPS if finding.above else finding.threshold + _EPS
    k, n = holds(vals, t, above=finding.above)
    return (k, n) if n else None


# -- table layout ----------------------------------------------------------------------------------
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
    """One headline metric: a row per key (cells from :func:`cell_text`, with "holds on k of n
    models" where the metric has a finding), a column per split."""

    title: str
    head: list[str]
    body: list[list[str]]


@dataclass(frozen=True)
class Mixed:
    """A finding that holds on some models and not on others (0 < k < n)."""

    key: tuple[str, ...]
    metric: str
    split: str
    finding: str
    k: int
    n: int


def setting_cell(
    rows: list[dict[str, Any]],
    info: dict[str, dict[str, Any]],
    metric: str,
    group: str | None,
    split: str,
    rids: list[str],
    cache: dict[tuple[str, str | None, str, str], dict[str, RunValue]] | None = None,
) -> tuple[ReplicateEstimate, tuple[int, int] | None, Finding | None]:
    """One setting's runs on one metric and split: the estimate over models and how many of
    the models meet the metric's finding."""
    cache = {} if cache is None else cache

    def get(phase: str) -> dict[str, RunValue]:
        k = (metric, group, split, phase)
        if k not in cache:
            cache[k] = run_values(rows, metric, group, split, phase)
        return cache[k]

    post = model_values(get("post"), rids, info)
    est = estimate(post)
    f = finding_for(metric, split)
    kn = None
    if f is not None and post:
        pre = model_values(get("pre"), rids, info) if f.relative else None
        kn = finding_holds(f, post, pre)
    return est, kn, f


def headline_tables(
    rows: list[dict[str, Any]],
    groups: dict[tuple[str, ...], list[str]],
    key_names: list[str],
    mixed: list[Mixed] | None = None,
) -> list[HeadlineTable]:
    """The HEADLINES, one table each, one column per split, never pooled across splits.

    ``groups`` maps a row key (e.g. (scenario, world, model, editor)) to its runs (models x
    seeds of one setting). Keys without data for a metric are left out of its table; a split
    a key lacks is ``-``. Findings that hold on some models only are appended to ``mixed``.
    """
    info = runs(rows)
    cache: dict[tuple[str, str | None, str, str], dict[str, RunValue]] = {}
    out = []
    for title, metric, group in HEADLINES:
        splits = splits_of(rows, metric, group)
        body = []
        for key, rids in groups.items():
            cells = []
            for s in splits:
                est, kn, f = setting_cell(rows, info, metric, group, s, rids, cache)
                text = cell_text(est)
                # "holds on k of n" says something only over several trained models
                if text != "-" and kn is not None and f is not None and kn[1] > 1:
                    text += f"; {f.text} holds on {kn[0]} of {kn[1]} model{'s' * (kn[1] > 1)}"
                    if mixed is not None and 0 < kn[0] < kn[1]:
                        mixed.append(Mixed(key, metric, s, f.text, kn[0], kn[1]))
                cells.append(text)
            if any(c != "-" for c in cells):
                body.append([*key, *cells])
        if body:
            out.append(HeadlineTable(title, [*key_names, *splits], body))
    return out


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
    """run_id -> its labels, trained model (``unit``: world, model, replicate), status, error
    and parsed config (one entry per run)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["run_id"] in out:
            continue
        world, model = str(r.get("label_world", "")), str(r.get("label_model", ""))
        rep = int(r.get("replicate") or 0)
        out[r["run_id"]] = {
            "world": world,
            "model": model,
            "replicate": rep,
            "unit": (world, model, rep),
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


def model_name(unit: ModelKey) -> str:
    """A trained model as a reader names it: ``world | model | replicate 2``."""
    return f"{unit[0]} | {unit[1]} | replicate {unit[2]}"


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
