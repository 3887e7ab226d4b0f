"""The truth ratio, forget quality and model utility, on TOFU's and open-unlearning's terms.

Truth ratio (TOFU, Maini et al. 2024, Sec. 2.5.1, Eq. 1):
R_truth = (1/|A_pert| sum_{a in A_pert} P(a|q)^{1/|a|}) / P(a_para|q)^{1/|a_para|}.
open-unlearning computes it from mean token losses, averaging the perturbed answers' losses
first: R = exp(-mean_j loss(a_j)) / exp(-loss(a_true)), the *geometric* mean of the perturbed
answers' probabilities over the true one's. Here every answer is one object token, so
R = exp(mean_j log P(o_j|q) - log P(o|q)), with the perturbed objects o_j being objects of the
same relation that no training sentence pairs with the subject (never a dissenting minority
object the model did see). A world has no paraphrases: the true answer stands for a_para.

Forget quality: the KS-test p-value between the unlearned and the retain model's truth ratios on
the forget set (:mod:`behemoth.evaluation.unlearning.ks`); high = indistinguishable.

Model utility (TOFU Sec. 2.5.2; open-unlearning's ``model_utility``): the harmonic mean of
retain-side scores (probability, accuracy where TOFU uses ROUGE, and the truth-ratio score
``max(0, 1 - R)``); any score near 0 pulls it to 0.
"""

from __future__ import annotations

import numpy as np


def truth_ratio(lp_true: np.ndarray, lp_perturbed: np.ndarray) -> np.ndarray:
    """[n] R = exp(mean_j log P(o_j) - log P(o)) from [n] and [n, k] log-probabilities."""
    lp_perturbed = np.asarray(lp_perturbed, dtype=np.float64)
    return np.exp(np.nanmean(lp_perturbed, axis=1) - np.asarray(lp_true, dtype=np.float64))


def truth_ratio_kept(ratios: np.ndarray) -> float:
    """open-unlearning's retain-side aggregate ``true_better``: mean of max(0, 1 - R)."""
    return float(np.mean(np.maximum(0.0, 1.0 - np.asarray(ratios))))


def truth_ratio_forgotten(ratios: np.ndarray) -> float:
    """open-unlearning's forget-side aggregate ``closer_to_1_better``: mean of min(R, 1/R)."""
    r = np.asarray(ratios, dtype=np.float64)
    return float(np.mean(np.minimum(r, 1.0 / np.maximum(r, 1e-300))))


def harmonic_mean(values: list[float] | np.ndarray) -> float:
    """Harmonic mean of non-negative scores; 0 if any is 0, NaN if any is NaN or none given."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0 or np.isnan(v).any():
        return float("nan")
    if (v <= 0).any():
        return 0.0
    return float(len(v) / np.sum(1.0 / v))
