"""The unlearning measures on hand-computed cases: KS p-value, truth ratio, utility, Wilson,
membership attacks and PrivLeak."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from behemoth.evaluation.uncertainty import wilson
from behemoth.evaluation.unlearning.ks import ks_2samp_pvalue
from behemoth.evaluation.unlearning.mia import (
    TokenStats,
    attack_aucs,
    loss_score,
    min_k_pp_score,
    min_k_score,
    min_k_tokens,
    muse_auc,
    paired_bootstrap_auc,
    privleak,
    zlib_length,
    zlib_score,
)
from behemoth.evaluation.unlearning.truth_ratio import (
    harmonic_mean,
    truth_ratio,
    truth_ratio_forgotten,
    truth_ratio_kept,
)


def test_ks_exact_hand_cases() -> None:
    # fully separated samples: only the 2 extreme paths of C(4, 2) = 6 reach D = 1
    assert ks_2samp_pvalue(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == (
        1.0,
        pytest.approx(1 / 3),
    )
    # 3 vs 3: 2 of C(6, 3) = 20 paths
    assert ks_2samp_pvalue(np.array([1.0, 2, 3]), np.array([4.0, 5, 6]))[1] == pytest.approx(0.1)
    d, p = ks_2samp_pvalue(np.array([1.0, 3.0]), np.array([2.0, 4.0]))
    assert d == 0.5 and p == pytest.approx(1.0)
    assert np.isnan(ks_2samp_pvalue(np.zeros(0), np.ones(3))[1])


@pytest.mark.parametrize("n, m", [(200, 200), (600, 700), (960, 960)])
def test_ks_is_scipys_exact_test(n: int, m: int) -> None:
    """The old hand-written asymptotic branch (n m > 250,000) was anti-conservative; the
    p-value is now scipy's, exact at these sizes."""
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=n), rng.normal(0.12, size=m)
    d, p = ks_2samp_pvalue(a, b)
    exact = stats.ks_2samp(a, b, method="exact")
    assert d == pytest.approx(exact.statistic) and p == pytest.approx(exact.pvalue, rel=1e-9)
    with pytest.raises(ImportError):
        from behemoth.evaluation.unlearning.ks import _kolmogorov_sf  # noqa: F401


def test_truth_ratio_is_geometric_mean_over_true() -> None:
    lp_true = np.log(np.array([0.5, 0.1]))
    lp_pert = np.log(np.array([[0.25, 0.0625], [0.1, np.nan]]))  # NaN: not a perturbation
    r = truth_ratio(lp_true, lp_pert)
    assert r == pytest.approx([0.125 / 0.5, 1.0])
    assert truth_ratio_kept(np.array([0.25, 2.0])) == pytest.approx(0.375)
    assert truth_ratio_forgotten(np.array([0.25, 2.0])) == pytest.approx(0.375)


def test_harmonic_mean_and_wilson() -> None:
    assert harmonic_mean([1.0, 0.5]) == pytest.approx(2 / 3)
    assert harmonic_mean([1.0, 0.0]) == 0.0
    assert math.isnan(harmonic_mean([]))
    lo, hi = wilson(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


def _stats() -> TokenStats:
    lp = np.array([[-0.1, -0.2, -3.0], [-1.0, -1.0, -1.0]])
    return TokenStats(lp, np.zeros_like(lp), np.full_like(lp, 2.0), np.array([10.0, 20.0]))


def test_attack_scores_hand_case() -> None:
    s = _stats()
    assert loss_score(s) == pytest.approx([-1.1, -1.0])
    # zlib: mean NLL (not total) over the compressed length (Carlini et al.; MUSE)
    assert zlib_score(s) == pytest.approx([-1.1 / 10, -1.0 / 20])
    assert min_k_score(s, 0.34) == pytest.approx([-3.0, -1.0])  # 1 lowest token of 3
    assert min_k_score(s, 0.67) == pytest.approx([-1.6, -1.0])  # 2 lowest
    assert min_k_score(s) == pytest.approx([-3.0, -1.0])  # default 40% of 3 tokens = 1
    assert min_k_pp_score(s, 0.34) == pytest.approx([-1.5, -0.5])  # (lp - 0) / 2
    assert zlib_length("aaaaaaaaaaaaaaaa") < zlib_length("a7#kQ!x9Lm2@pZ&w")


def test_min_k_tokens_per_statement_length() -> None:
    """k in tokens: 40% of an 8-token statement is 3 tokens (20% would have been 1)."""
    assert min_k_tokens(np.array([1, 2, 5, 8, 10])).tolist() == [1, 1, 2, 3, 4]
    assert min_k_tokens(8, 0.2).tolist() == 1
    lp = np.array([[-5.0, -4.0, -3.0, -0.1, -0.1, -0.1, -0.1, -0.1]])
    st = TokenStats(lp, np.zeros_like(lp), np.ones_like(lp), np.array([10.0]))
    assert min_k_score(st) == pytest.approx([-4.0])  # mean of the 3 lowest


def _muse_reference(forget: np.ndarray, holdout: np.ndarray) -> float:
    """MUSE's recipe, written out: scores are minus the attack value ("ppl"), forget labelled 0
    and holdout 1, ROC of the labels against -ppl, area by the trapezoid rule."""
    ppl = -np.concatenate([forget, holdout])
    y = np.concatenate([np.zeros(len(forget)), np.ones(len(holdout))])
    thresholds = np.unique(-ppl)[::-1]
    tpr = [0.0] + [float(((-ppl >= t) & (y == 1)).sum() / (y == 1).sum()) for t in thresholds]
    fpr = [0.0] + [float(((-ppl >= t) & (y == 0)).sum() / (y == 0).sum()) for t in thresholds]
    return float(np.trapezoid(tpr, fpr))


def test_muse_auc_and_privleak_on_a_fixed_example() -> None:
    """MUSE's orientation: an original model that recognizes its forget set has AUC near 0 and
    a negative PrivLeak; equal to MUSE's formula (and sklearn-style ROC) on a fixed example."""
    forget = np.array([-0.1, -0.2, -0.3, -1.5, -0.4])  # member-likeness (e.g. minus loss)
    holdout = np.array([-2.0, -1.5, -3.0, -0.35, -2.5])
    a = muse_auc(forget, holdout)
    assert a == pytest.approx(_muse_reference(forget, holdout))
    assert a == pytest.approx(2.5 / 25)  # 2 holdout-above-forget pairs and 1 tie of 25
    retrain = np.array([-2.1, -1.4, -2.9, -0.5, -2.6])  # a retrain model: forget ~ holdout
    a_r = muse_auc(retrain, holdout)
    assert a_r == pytest.approx(_muse_reference(retrain, holdout))
    assert privleak(a, a_r) == pytest.approx((a - a_r) / a_r * 100)
    assert privleak(a, a_r) < 0  # under-unlearned: negative, as in MUSE
    assert privleak(0.75, 0.5) == pytest.approx(50.0)  # over-unlearned: positive


def test_attack_aucs_orientation_and_privleak() -> None:
    """Forget texts likelier than holdout texts -> MUSE's AUC 0 for every attack."""
    lp_m = np.full((4, 3), -0.1)
    lp_n = np.full((4, 3), -2.0) - np.arange(4)[:, None] * 0.1
    z = np.zeros((4, 3))
    m = TokenStats(lp_m, z, np.ones((4, 3)), np.full(4, 10.0))
    n = TokenStats(lp_n, z, np.ones((4, 3)), np.full(4, 10.0))
    assert attack_aucs(m, n) == {"loss": 0.0, "zlib": 0.0, "min_k": 0.0, "min_k_pp": 0.0}
    assert attack_aucs(n, m)["loss"] == 1.0  # over-suppressed: above 0.5, not "better"
    assert privleak(0.6, 0.5) == pytest.approx(20.0)
    assert privleak(0.4, 0.5) == pytest.approx(-20.0)
    lo, hi = paired_bootstrap_auc(
        np.array([1.0, 2, 3, 4]), np.array([0.0, 0, 0, 0]), np.random.default_rng(0)
    )
    assert lo == hi == 0.0
