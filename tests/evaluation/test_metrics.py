"""Every registered metric on a hand-built case whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from behemoth.evaluation.metrics import AGGREGATIONS, METRICS, Scored, auc, get_metric

NAN = float("nan")


def _s(target, other, pred, lp_t, lp_o, ref=None, member=None) -> Scored:  # type: ignore[no-untyped-def]
    a = lambda x, d=np.int64: None if x is None else np.asarray(x, dtype=d)  # noqa: E731
    lp_o = np.asarray(lp_o, dtype=np.float64)
    return Scored(a(target), a(other), a(pred), a(lp_t, np.float64), lp_o, a(ref), a(member, bool))


# target, other, pred, log P(target), log P(other), reference prediction
CASE = _s(
    target=[10, 11, 12, 13],
    other=[20, 21, -1, 13],
    pred=[10, 21, 12, 99],
    lp_t=[-0.1, -3.0, -0.5, -2.0],
    lp_o=[-2.1, -0.2, NAN, -2.0],
    ref=[10, 11, 5, 99],
)


def value(name: str, s: Scored) -> float:
    m = get_metric(name)
    return AGGREGATIONS[m.aggregation](m.fn(s), s)


# Expected values computed by hand from CASE.
#   accuracy vs target: items 0 and 2 hit -> 2/4; vs other (defined for items 0, 1): item 1 hits -> 1/2
#   P(target) > P(other): defined on items 0, 1 (item 2 has no competitor; item 3's equals its
#   target): item 0 yes, item 1 no -> 1/2; gaps: 2.0 and -2.8 -> mean -0.4
#   locality (pred == ref): items 0 and 3 -> 2/4; mass on other: (e^-2.1 + e^-0.2) / 2
PDIFF = ((math.exp(-0.1) - math.exp(-2.1)) + (math.exp(-3.0) - math.exp(-0.2))) / 2
HAND = {
    "efficacy": 0.5,
    "generalization": 0.5,
    "specificity": 0.5,
    "portability": 0.5,
    "refusal_rate": 0.5,
    "portability_kept": 0.5,
    "forget_accuracy": 0.5,
    "efficacy_score": 0.5,
    "paraphrase_score": 0.5,
    "neighborhood_score": 0.5,
    "portability_score": 0.5,
    "forget_score": 0.5,
    "efficacy_magnitude": -0.4,
    "paraphrase_magnitude": -0.4,
    "neighborhood_magnitude": -0.4,
    "portability_magnitude": -0.4,
    "efficacy_prob_diff": PDIFF,
    "paraphrase_prob_diff": PDIFF,
    "neighborhood_prob_diff": PDIFF,
    "portability_prob_diff": PDIFF,
    "locality": 0.5,
    # drawdown: reference right [1,1,0,0] minus edited right [1,0,1,0] -> (0+1-1+0)/4
    "drawdown": 0.0,
    "old_mass": (math.exp(-2.1) + math.exp(-0.2)) / 2,
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_metric_on_hand_case(name: str) -> None:
    assert value(name, CASE) == pytest.approx(HAND[name], abs=1e-12)


def test_every_registered_metric_has_a_hand_case() -> None:
    assert set(METRICS) == set(HAND) | {"membership_auc", "membership_gap"}


def test_families_are_never_mixed() -> None:
    """Accuracy metrics read predictions only; probability metrics read log-probs only."""
    moved = _s(
        CASE.target, CASE.other, CASE.pred, CASE.lp_target + 5.0, CASE.lp_other, CASE.ref_pred
    )
    swapped = _s(
        CASE.target,
        CASE.other,
        np.array([0, 0, 0, 0]),
        CASE.lp_target,
        CASE.lp_other,
        CASE.ref_pred,
    )
    for m in METRICS.values():
        if m.family == "membership":
            continue
        if m.family == "accuracy":
            assert value(m.name, moved) == value(m.name, CASE)
        else:
            assert value(m.name, swapped) == pytest.approx(value(m.name, CASE), nan_ok=True)


def test_directions() -> None:
    up = {n for n, m in METRICS.items() if m.higher_is_better}
    assert {
        "efficacy",
        "generalization",
        "specificity",
        "locality",
        "portability",
        "refusal_rate",
    } <= up
    assert {"forget_accuracy", "old_mass", "membership_auc", "portability_kept"}.isdisjoint(up)
    assert get_metric("membership_auc").ideal == 0.5  # neither lower nor higher is better


def test_membership_gap_counts_over_suppression() -> None:
    """An AUC of 0 (forgotten facts *less* likely than unseen ones) is as bad as 1, not best."""
    member = [True, True, False, False]
    over = _s([1] * 4, [-1] * 4, [0] * 4, [-9.0, -9.0, -1.0, -1.0], [NAN] * 4, member=member)
    kept = _s([1] * 4, [-1] * 4, [0] * 4, [-1.0, -1.0, -9.0, -9.0], [NAN] * 4, member=member)
    gone = _s([1] * 4, [-1] * 4, [0] * 4, [-1.0] * 4, [NAN] * 4, member=member)
    assert value("membership_auc", over) == 0.0 and value("membership_auc", kept) == 1.0
    assert value("membership_gap", over) == value("membership_gap", kept) == 0.5
    assert value("membership_gap", gone) == 0.0


def test_membership_auc_hand_case() -> None:
    # members' losses 0.1, 0.5; non-members' 0.3, 2.0: pairs (member < non-member):
    # 0.1<0.3, 0.1<2.0, 0.5<2.0 yes; 0.5<0.3 no -> 3/4
    lp = -np.array([0.1, 0.5, 0.3, 2.0])
    s = _s([1, 1, 1, 1], [-1] * 4, [0] * 4, lp, [NAN] * 4, member=[True, True, False, False])
    assert value("membership_auc", s) == pytest.approx(0.75)
    # identical losses: indistinguishable, 0.5; perfectly separated: 1.0
    s_tie = _s([1] * 4, [-1] * 4, [0] * 4, [-1.0] * 4, [NAN] * 4, member=[True, True, False, False])
    assert value("membership_auc", s_tie) == 0.5
    s_sep = _s(
        [1] * 4,
        [-1] * 4,
        [0] * 4,
        [-0.1, -0.2, -5.0, -6.0],
        [NAN] * 4,
        member=[True, True, False, False],
    )
    assert value("membership_auc", s_sep) == 1.0


def test_auc_matches_pairwise_count() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    pos, neg = scores[labels], scores[~labels]
    brute = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert auc(scores, labels) == pytest.approx(brute)
    assert math.isnan(auc(scores, np.ones(60, bool)))


def test_no_applicable_item_gives_nan() -> None:
    s = _s([1, 2], [-1, -1], [1, 2], [-0.1, -0.1], [NAN, NAN])
    assert math.isnan(value("efficacy_score", s))
    assert value("efficacy", s) == 1.0


def test_unknown_metric_suggests() -> None:
    with pytest.raises(KeyError, match="did you mean 'efficacy'"):
        get_metric("eficacy")
