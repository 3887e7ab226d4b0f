"""The evaluation entry point: score every test prompt of a scenario once, then every metric.

``evaluate(model, world, scenario, reference_model=None)`` is what an editor calls after
editing: all test sets are concatenated into one probe set and scored in a single batched
pass (:func:`behemoth.evaluation.scoring.score`) with two targets per prompt (the target and
its competitor); the reference model, when given, is scored on the same prompts for locality.
Metrics are then pure functions of those arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from behemoth.evaluation.cost import EditCost
from behemoth.evaluation.metrics import AGGREGATIONS, Scored, metrics_for
from behemoth.evaluation.records import PROTOCOL, PROTOCOL_VERSION, Records
from behemoth.evaluation.scoring import Scores, score
from behemoth.scenarios.scenario import Scenario
from behemoth.scenarios.testset import TestSet, concat_probes
from behemoth.world.world import World

#: Groups whose items belong to one edit: restricted to the applied edits when ``upto`` is set.
EDIT_GROUPS = ("efficacy", "generalization", "portability", "forgetting", "membership")


def _tests(scenario: Scenario, upto: int | None) -> list[tuple[TestSet, np.ndarray]]:
    """(test set restricted to the applied edits, its rows in the full set) per non-empty set."""
    out = []
    for t in scenario.tests.values():
        if t.group == "retain":
            continue
        rows = np.arange(len(t))
        if upto is not None and t.group in EDIT_GROUPS:
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
) -> Records:
    """Every metric of ``scenario`` for the (edited) ``model``; tidy records.

    - ``reference_model``: the unedited model, frozen; adds ``locality`` (agreement with its own
      predictions on the specificity sets). Never modified. When evaluating many times (a
      stream), pass ``reference_scores(reference_model, scenario)`` instead: scored once.
    - ``upto``: only the first ``upto`` requests are applied (sequential editing): the efficacy,
      generalization, portability and forgetting items of later requests are left out.
    - ``cost``: an :class:`~behemoth.evaluation.cost.EditCost` to record next to the metrics.
    - ``run`` / ``protocol`` / ``extra``: written into every row (e.g. ``extra={"step": 10}``).
    """
    pairs = _tests(scenario, upto)
    sets = [t for t, _ in pairs]
    scores = _score_sets(model, sets, batch_size)
    ref_scores: list[Scores] | None = None
    if isinstance(reference_model, dict):  # precomputed by reference_scores()
        ref_scores = [_take(reference_model[t.name], rows) for t, rows in pairs]
    elif reference_model is not None:
        ref_scores = _score_sets(reference_model, sets, batch_size)
    base = _base_row(run, protocol, scenario, world, extra)
    if upto is not None:
        base["edits_applied"] = upto
    rec = Records()
    for i, (t, sc) in enumerate(zip(sets, scores)):
        lp_other = sc.target_logprob[:, 1].copy()
        lp_other[t.other < 0] = np.nan
        s = Scored(
            t.target,
            t.other,
            sc.pred,
            sc.target_logprob[:, 0],
            lp_other,
            None if ref_scores is None else ref_scores[i].pred,
            t.member,
        )
        for m in metrics_for(t.group, ref_scores is not None):
            values = m.fn(s)
            n = int((~np.isnan(values)).sum())
            if n == 0:
                continue
            rec.rows.append(
                {
                    **base,
                    "metric": m.name,
                    "group": t.group,
                    "split": t.split,
                    "family": m.family,
                    "higher_is_better": m.higher_is_better,
                    "aggregation": m.aggregation,
                    "value": AGGREGATIONS[m.aggregation](values, s),
                    "n": n,
                }
            )
            rec.add_items(
                run, m.name, t.group, t.split, t.edit, t.probes.subject, t.probes.relation, values
            )
    if cost is not None:
        rec.extend(cost_records(cost, base))
    return rec


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
            }
        )
        a = b
    return rec
