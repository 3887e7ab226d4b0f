"""The evaluation entry point: score every test prompt of a scenario once, then every metric.

``evaluate(model, world, scenario, reference_model=None)`` is what an editor calls after
editing: all test sets are concatenated into one probe set and scored in a single batched
pass (:func:`behemoth.model.scoring.score`) with two targets per prompt (the target and
its competitor); the reference model, when given, is scored on the same prompts for locality.
Metrics are then pure functions of those arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from behemoth.evaluation.cost import EditCost
from behemoth.evaluation.metrics import AGGREGATIONS, Scored, metrics_for, target_beats_other
from behemoth.evaluation.records import PROTOCOL, PROTOCOL_VERSION, Records
from behemoth.evaluation.uncertainty import bootstrap_interval, item_interval, wilson
from behemoth.model.scoring import Scores, score
from behemoth.scenarios.exposure import item_exposure
from behemoth.scenarios.scenario import Scenario
from behemoth.scenarios.testset import TestSet, concat_probes
from behemoth.world.world import World

#: Groups whose items belong to one edit: restricted to the applied edits when ``upto`` is set.
EDIT_GROUPS = ("efficacy", "generalization", "portability", "forgetting", "membership")
#: Specificity splits whose items are neighbours of one edit (the first edit of their subject,
#: of their relation's old value, of its new value): restricted like ``EDIT_GROUPS``, so at a
#: stream's checkpoint they hold only neighbours of edits already applied (issue 21). The
#: other splits (same_relation, other, ...) are no edit's own and are always scored whole.
EDIT_SPECIFICITY = ("same_subject", "same_value", "same_new_value")


def _applied_only(t: TestSet) -> bool:
    return t.group in EDIT_GROUPS or (t.group == "specificity" and t.split in EDIT_SPECIFICITY)


def _tests(scenario: Scenario, upto: int | None) -> list[tuple[TestSet, np.ndarray]]:
    """(test set restricted to the applied edits, its rows in the full set) per non-empty set."""
    out = []
    for t in scenario.tests.values():
        if t.group == "retain":
            continue
        rows = np.arange(len(t))
        if upto is not None and _applied_only(t):
            rows = np.flatnonzero(t.edit < upto)
            t = t.subset(rows)
        if len(t):
            out.append((t, rows))
    return out


def _score_sets(model: torch.nn.Module, sets: list[TestSet], batch_size: int) -> list[Scores]:
    """Score all sets in one batched pass; split the result back per set."""
    allp = concat_probes([t.probes for t in sets])
    targets = (
        np.stack([allp.answer, np.concatenate([np.maximum(t.other, 0) for t in sets])], axis=1)
        if sets
        else np.zeros((0, 2), np.int64)
    )
    sc = score(model, allp, targets, batch_size=batch_size)
    out, a = [], 0
    for t in sets:
        b = a + len(t)
        out.append(Scores(sc.pred[a:b], sc.target_logprob[a:b], sc.pred_logprob[a:b]))
        a = b
    return out


def _take(s: Scores, rows: np.ndarray) -> Scores:
    return Scores(s.pred[rows], s.target_logprob[rows], s.pred_logprob[rows])


def reference_scores(
    reference_model: torch.nn.Module, scenario: Scenario, batch_size: int = 1024
) -> dict[str, Scores]:
    """The unedited model's scores on every test set of ``scenario`` (for ``evaluate``)."""
    pairs = _tests(scenario, None)
    sets = [t for t, _ in pairs]
    return {t.name: sc for t, sc in zip(sets, _score_sets(reference_model, sets, batch_size))}


def _base_row(
    run: str, protocol: str, scenario: Scenario | None, world: World, extra: dict[str, Any] | None
) -> dict[str, Any]:
    row = {
        "protocol": protocol,
        "protocol_version": PROTOCOL_VERSION,
        "run": run,
        "scenario": scenario.name if scenario else "",
        "mode": scenario.mode if scenario else "",
        "world": world.fingerprint,
    }
    if extra:
        row.update(extra)
    return row


def evaluate(
    model: torch.nn.Module,
    world: World,
    scenario: Scenario,
    reference_model: torch.nn.Module | dict[str, Scores] | None = None,
    *,
    run: str = "run",
    upto: int | None = None,
    cost: EditCost | None = None,
    protocol: str = PROTOCOL,
    extra: dict[str, Any] | None = None,
    batch_size: int = 1024,
    pre_rows: bool = True,
) -> Records:
    """Every metric of ``scenario`` for the (edited) ``model``; tidy records.

    - ``reference_model``: the unedited model, frozen; adds ``locality`` (agreement with its own
      predictions on the specificity sets). Never modified. When evaluating many times (a
      stream), pass ``reference_scores(reference_model, scenario)`` instead: scored once.
    - ``upto``: only the first ``upto`` requests are applied (sequential editing): the efficacy,
      generalization, portability, forgetting and membership items of later requests are left
      out, and so are the ``same_subject`` / ``same_value`` / ``same_new_value`` specificity
      items whose edit (``TestSet.edit``: the first request of their subject or value) is not
      applied yet (``EDIT_SPECIFICITY``).
    - ``cost``: an :class:`~behemoth.evaluation.cost.EditCost` to record next to the metrics.
    - ``run`` / ``protocol`` / ``extra``: written into every row (e.g. ``extra={"step": 10}``).
    - ``pre_rows``: with a reference, also every metric of the unedited model on the same items
      (``phase="pre"``, ``edits_applied=0``), so a low post-edit number can be read against what
      the model did before any edit (a 0 in a format it never learned is no failed edit).

    Every row carries ``phase`` ("pre"/"post"), ``edits_applied`` (all requests unless ``upto``),
    ``n`` and a 95% interval ``ci_low``/``ci_high`` (``interval`` names the method, see
    :mod:`behemoth.evaluation.uncertainty`). Per-item values are kept for every metric row,
    pre and post, each item with its ``phase``, ``edits_applied`` and ``batches_applied``.
    """
    pairs = _tests(scenario, upto)
    sets = [t for t, _ in pairs]
    scores = _score_sets(model, sets, batch_size)
    ref_scores: list[Scores] | None = None
    if reference_model is not None:
        # the unedited model is always scored on whole test sets, then restricted to the items
        # of this checkpoint: the same batches whether it is passed as a model or precomputed,
        # so the same float sums (on several threads, other batch shapes round differently)
        ref_all = (
            reference_model
            if isinstance(reference_model, dict)
            else reference_scores(reference_model, scenario, batch_size)
        )
        ref_scores = [_take(ref_all[t.name], rows) for t, rows in pairs]
    base = _base_row(run, protocol, scenario, world, extra)
    base["edits_applied"] = len(scenario.requests) if upto is None else upto
    rec = Records()
    post = [
        _scored(t, sc, None if ref_scores is None else ref_scores[i].pred)
        for i, (t, sc) in enumerate(zip(sets, scores))
    ]
    phases = [("post", base, post, ref_scores is not None)]
    if ref_scores is not None and pre_rows:  # the unedited model on the same items
        pre = [_scored(t, sc, None) for t, sc in zip(sets, ref_scores)]
        phases.append(("pre", {**base, "edits_applied": 0}, pre, False))
    exposure = [item_exposure(world, t.probes) for t in sets]  # the items' facts, per set
    for phase, row_base, scored, with_ref in phases:
        row_base = {**row_base, "phase": phase}
        for t, sc_, ex in zip(sets, scored, exposure):
            _metric_rows(rec, t, sc_, row_base, with_ref, run, items=True, exposure=ex)
        rec.rows.extend(score_rows(sets, scored, row_base))
    if cost is not None:
        rec.extend(cost_records(cost, {**base, "phase": "post"}))
    return rec


def _scored(t: TestSet, sc: Scores, ref_pred: np.ndarray | None) -> Scored:
    lp_other = sc.target_logprob[:, 1].copy()
    lp_other[t.other < 0] = np.nan
    return Scored(t.target, t.other, sc.pred, sc.target_logprob[:, 0], lp_other, ref_pred, t.member)


def _sub(s: Scored, idx: np.ndarray) -> Scored:
    return Scored(
        s.target[idx],
        s.other[idx],
        s.pred[idx],
        s.lp_target[idx],
        s.lp_other[idx],
        None if s.ref_pred is None else s.ref_pred[idx],
        None if s.member is None else s.member[idx],
    )


def _metric_rows(
    rec: Records,
    t: TestSet,
    s: Scored,
    base: dict[str, Any],
    with_ref: bool,
    run: str,
    items: bool,
    exposure: np.ndarray | None = None,
) -> None:
    """One row per metric of test set ``t`` (value, n, 95% interval); per-item values too
    (with ``exposure``, each item's fact's occurrences per pass, -1 for none)."""
    for m in metrics_for(t.group, with_ref):
        values = m.fn(s)
        n = int((~np.isnan(values)).sum())
        if n == 0:
            continue
        agg = AGGREGATIONS[m.aggregation]
        if m.aggregation == "mean":
            lo, hi, method = item_interval(values, t.edit)
        else:
            lo, hi, method = bootstrap_interval(
                lambda idx, f=agg, v=values: f(v[idx], _sub(s, idx)),  # type: ignore[misc]
                t.edit,
            )
        rec.rows.append(
            {
                **base,
                "metric": m.name,
                "group": t.group,
                "split": t.split,
                "family": m.family,
                "higher_is_better": m.higher_is_better,
                "ideal": m.ideal,
                "aggregation": m.aggregation,
                "value": agg(values, s),
                "n": n,
                "ci_low": lo,
                "ci_high": hi,
                "interval": method,
            }
        )
        if items:
            rec.add_items(
                run,
                m.name,
                t.group,
                t.split,
                t.edit,
                t.probes.subject,
                t.probes.relation,
                values,
                phase=base.get("phase", "post"),
                edits_applied=base.get("edits_applied"),
                batches_applied=base.get("batches_applied"),
                exposure=exposure,
            )


#: Specificity splits whose competitor is an edit's new object: ROME's neighbourhood (NS).
NS_SPLITS = ("same_value", "same_relation")


def score_rows(
    sets: list[TestSet], scored: list[Scored], base: dict[str, Any]
) -> list[dict[str, Any]]:
    """ROME's Score: the harmonic mean of ES, PS and NS (Meng et al. 2022, Sec. 4.2 / Table 4).

    ES over the efficacy items, PS over the generalization items (every other format), NS over
    the same-value and same-relation neighbours (competitor: the edit's new object); each is the
    share of items with P(target) > P(competitor). One row per scenario, with a 95% interval
    from the bootstrap clustered by edit (ES, PS and NS recomputed on each resample).
    """
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"es": [], "ps": [], "ns": []}
    for t, s in zip(sets, scored):
        key = {"efficacy": "es", "generalization": "ps"}.get(t.group)
        if t.group == "specificity" and t.split in NS_SPLITS:
            key = "ns"
        if key:
            parts[key].append((target_beats_other(s), t.edit))
    if not all(parts.values()):
        return []
    vals = {k: np.concatenate([v for v, _ in p]) for k, p in parts.items()}
    which = np.concatenate([np.full(len(vals[k]), j) for j, k in enumerate(parts)])
    v = np.concatenate(list(vals.values()))
    edit = np.concatenate([e for p in parts.values() for _, e in p])

    def hm(idx: np.ndarray) -> float:
        means = []
        for j in range(3):
            x = v[idx][which[idx] == j]
            x = x[~np.isnan(x)]
            if not len(x):
                return float("nan")
            means.append(float(x.mean()))
        return 0.0 if min(means) == 0 else 3.0 / sum(1.0 / m for m in means)

    all_idx = np.arange(len(v))
    if np.isnan(hm(all_idx)):
        return []
    lo, hi, method = bootstrap_interval(hm, edit)
    return [
        {
            **base,
            "metric": "score",
            "group": "scenario",
            "split": "es_ps_ns",
            "family": "probability",
            "higher_is_better": True,
            "ideal": None,
            "aggregation": "harmonic_mean",
            "value": hm(all_idx),
            "n": int((~np.isnan(v)).sum()),
            "ci_low": lo,
            "ci_high": hi,
            "interval": method,
        }
    ]


def cost_records(cost: EditCost, base: dict[str, Any]) -> Records:
    """Rows for an edit's cost: wall time, memory, and per changed matrix its delta metrics."""
    rec = Records()

    def row(metric: str, split: str, value: float) -> None:
        rec.rows.append(
            {
                **base,
                "metric": metric,
                "group": "cost",
                "split": split,
                "family": "cost",
                "higher_is_better": False,
                "aggregation": "value",
                "value": float(value),
                "n": 1,
            }
        )

    row("wall_time_s", "edit", cost.wall_time_s)
    row("peak_memory_bytes", "edit", cost.peak_memory_bytes)
    row("memory_increase_bytes", "edit", cost.memory_increase_bytes)
    for name, d in cost.deltas.items():
        for k, v in d.items():
            row(f"delta_{k}", name, v)
    return rec


def evaluate_probes(
    model: torch.nn.Module,
    world: World,
    *,
    run: str = "run",
    protocol: str = PROTOCOL,
    extra: dict[str, Any] | None = None,
    batch_size: int = 1024,
) -> Records:
    """Accuracy of ``model`` on every probe set of the world (one batched pass)."""
    sets = list(world.probes.values())
    allp = concat_probes(sets)
    sc = score(model, allp, batch_size=batch_size)
    base = _base_row(run, protocol, None, world, extra)
    rec = Records()
    a = 0
    for p in sets:
        b = a + len(p)
        hit = (sc.pred[a:b] == p.answer).astype(np.float64)
        lo, hi = wilson(float(hit.sum()), len(hit))
        rec.rows.append(
            {
                **base,
                "metric": "probe_accuracy",
                "group": "world",
                "split": p.name,
                "family": "accuracy",
                "higher_is_better": True,
                "aggregation": "mean",
                "value": float(hit.mean()) if len(hit) else float("nan"),
                "n": len(p),
                "ci_low": lo,
                "ci_high": hi,
                "interval": "wilson",
            }
        )
        a = b
    return rec
