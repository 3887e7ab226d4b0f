"""Pre-edit rows, ROME's probability differences and Score, on oracle models (exact values)."""

from __future__ import annotations

import math

import pytest

from behemoth.evaluation.evaluate import evaluate
from behemoth.evaluation.oracle import oracle_model
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


def test_pre_rows_score_and_prob_diff(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "k-different", {"k": 4})
    base = oracle_model(tiny_world)
    ideal = oracle_model(tiny_world, sc)
    hi, lo = base.logprob_answer(), base.logprob_other()
    rec = evaluate(ideal, tiny_world, sc, reference_model=base)
    pre = [r for r in rec.rows if r["phase"] == "pre"]
    post = [r for r in rec.rows if r["phase"] == "post"]
    assert {r["edits_applied"] for r in pre} == {0} and {r["edits_applied"] for r in post} == {4}
    # every metric of the edited model has its pre-edit twin on the same items (but those
    # measured against the unedited model itself: locality, drawdown)
    twin = {(r["metric"], r["split"], r["n"]) for r in pre}
    relative = {"locality", "drawdown"}
    assert {(r["metric"], r["split"], r["n"]) for r in post if r["metric"] not in relative} == twin
    assert rec.value("efficacy", "sro", phase="pre") == 0.0 and rec.value("efficacy", "sro") == 1.0
    assert rec.value("efficacy_prob_diff", "sro") == pytest.approx(math.exp(hi) - math.exp(lo))
    assert rec.value("efficacy_prob_diff", "sro", phase="pre") == pytest.approx(
        math.exp(lo) - math.exp(hi)
    )
    # Score = harmonic mean of ES, PS, NS: 1 after the ideal edit, 0 before (ES = 0)
    assert rec.value("score", "es_ps_ns") == 1.0
    assert rec.value("score", "es_ps_ns", phase="pre") == 0.0
    score = next(r for r in post if r["metric"] == "score")
    # every edit ideal: no spread between edits, so no interval (not a zero-width one)
    assert score["interval"] == "no spread between the 4 edits: no interval"
    assert math.isnan(score["ci_low"]) and math.isnan(score["ci_high"])
    # accuracies get Wilson intervals; the summary shows pre next to post, per split
    eff = next(r for r in post if r["metric"] == "efficacy")
    assert eff["interval"] == "wilson" and eff["ci_low"] == pytest.approx(0.5101, abs=1e-3)  # 4/4
    line = next(x for x in rec.summary().splitlines() if x.startswith("efficacy "))
    assert "0.0000" in line and "1.0000" in line and "[0.5101" in line
