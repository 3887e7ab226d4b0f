"""The unlearning measures on hand-computed cases: KS p-value, truth ratio, utility, Wilson,
membership attacks and PrivLeak."""

from __future__ import annotations

import math

import numpy as np
import pytest

from behemoth.evaluation.uncertainty import wilson
from behemoth.evaluation.unlearning.ks import (
    _exact_sf,
    _kolmogorov_sf,
    ks_2samp_pvalue,
    ks_statistic,
)
from behemoth.evaluation.unlearning.mia import (
    TokenStats,
    attack_aucs,
    loss_score,
    min_k_pp_score,
    min_k_score,
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
    # interleaved: D = 1/2 is reached by every path
    d, p = ks_2samp_pvalue(np.array([1.0, 3.0]), np.array([2.0, 4.0]))
    assert d == 0.5 and p == pytest.approx(1.0)
    assert ks_statistic(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.0


def test_ks_asymptotic_matches_exact_and_tables() -> None:
    assert _kolmogorov_sf(1.358) == pytest.approx(0.05, abs=1e-3)  # the 5% critical value
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.25, size=300)
    d, p = ks_2samp_pvalue(a, b)
    en = 150.0
    lam = (math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en)) * d
    assert p == pytest.approx(_kolmogorov_sf(lam), abs=0.01)
    assert p == pytest.approx(_exact_sf(int(round(d * 300 * 300)), 300, 300), abs=1e-12)
    # large samples take the asymptotic path: same distribution -> not rejected
    _, p_same = ks_2samp_pvalue(rng.normal(size=1000), rng.normal(size=1000))
    assert p_same > 0.01


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
    assert zlib_score(s) == pytest.approx([-0.33, -0.15])
    assert min_k_score(s, 0.34) == pytest.approx([-3.0, -1.0])  # 1 lowest token of 3
    assert min_k_score(s, 0.67) == pytest.approx([-1.6, -1.0])  # 2 lowest
    assert min_k_pp_score(s, 0.34) == pytest.approx([-1.5, -0.5])  # (lp - 0) / 2
    assert zlib_length("aaaaaaaaaaaaaaaa") < zlib_length("a7#kQ!x9Lm2@pZ&w")


def test_attack_aucs_orientation_and_privleak() -> None:
    """Members likelier than non-members -> AUC 1 for every attack; privleak relative."""
    lp_m = np.full((4, 3), -0.1)
    lp_n = np.full((4, 3), -2.0) - np.arange(4)[:, None] * 0.1
    z = np.zeros((4, 3))
    m = TokenStats(lp_m, z, np.ones((4, 3)), np.full(4, 10.0))
    n = TokenStats(lp_n, z, np.ones((4, 3)), np.full(4, 10.0))
    assert attack_aucs(m, n) == {"loss": 1.0, "zlib": 1.0, "min_k": 1.0, "min_k_pp": 1.0}
    assert attack_aucs(n, m)["loss"] == 0.0  # over-suppressed: below 0.5, not "better"
    assert privleak(0.6, 0.5) == pytest.approx(20.0)
    assert privleak(0.4, 0.5) == pytest.approx(-20.0)
    lo, hi = paired_bootstrap_auc(
        np.array([1.0, 2, 3, 4]), np.array([0.0, 0, 0, 0]), np.random.default_rng(0)
    )
    assert lo == hi == 1.0
