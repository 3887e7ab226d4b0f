"""Membership inference attacks on token log-probabilities, their AUC and PrivLeak, on MUSE's
terms (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation", Sec. 3.3, C3).

Every attack maps one text's per-token statistics to a score oriented **higher = more likely a
training member** (MUSE scores the negative of it, a "perplexity", and ranks ``-ppl``: the same
order):

- LOSS (Yeom et al. 2018): minus the mean token negative log-likelihood.
- zlib (Carlini et al. 2021, "Extracting Training Data from LLMs", Sec. 5.1): minus the ratio
  of the text's *mean* token NLL (nats; the log-perplexity, as Carlini et al., MUSE and
  open-unlearning use) to its zlib-compressed length in bytes.
- Min-K% (Shi et al. 2024, "Detecting Pretraining Data", Eq. 3): the mean log-probability of
  the k lowest-probability tokens, k = max(1, floor(ratio * L)) of a text's L scored tokens
  (MUSE's ``int(len * ratio)``, never empty). MUSE's PrivLeak uses ratio 0.4 (its default key
  ``forget_holdout_Min-40%``), so does behemoth: a demo-world statement has 9 tokens (8
  scored), and 40% of them is 3 tokens where 20% was one; the tiny world's score 4 tokens
  (:func:`min_k_tokens` gives k; the report prints it as ``min_k_tokens``).
- Min-K%++ (Zhang et al. 2024, "Min-K%++", Eq. 5): the same over token scores normalized by
  the model's own distribution at that position, (log p(x_t) - mu_t) / sigma_t with
  mu_t = E_{z~p}[log p(z)] and sigma_t^2 = E_{z~p}[(log p(z))^2] - mu_t^2.

AUC and PrivLeak follow MUSE's code (``sweep`` of its privleak metric, and open-unlearning's
``relative_auc``, which flips the labels to match it): the forget set is labelled 0 and the
holdout set 1, and the ROC ranks the member-likeness score, so

    AUC = P(score(holdout text) > score(forget text))   (ties count half; :func:`muse_auc`)

is near 0 for a model that still knows the forget set, 0.5 when forget and holdout look alike,
and above 0.5 when the forget set looks *less* familiar than never-seen text (over-unlearning,
itself a leak). PrivLeak (MUSE Sec. 3.3) = (AUC_unlearned - AUC_retrain) / AUC_retrain * 100:
0 is the retain model, **negative = under-unlearning** (the original model: about -100%),
positive = over-unlearning.

Here the "holdout" texts are **counterfactual statements**: the forgotten fact's own prompt
completed by an object no training sentence ever paired with it. They are not a holdout set of
real, never-trained facts drawn from the same distribution (a world states every fact it has),
so the AUC measures "the true object vs an unseen object of the same relation".
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from behemoth.evaluation.metrics import auc

#: Attack names, in report order; ``DEFAULT_ATTACK`` is MUSE's PrivLeak attack.
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")
DEFAULT_ATTACK = "min_k"
#: MUSE's Min-K% ratio (``Min-40%``).
MIN_K_RATIO = 0.4


@dataclass
class TokenStats:
    """Per-token statistics of n texts of equal scored length L (padding: NaN)."""

    logprob: np.ndarray  # [n, L] log p(x_t | x_<t) of the text's own tokens
    mu: np.ndarray  # [n, L] E_{z~p_t}[log p_t(z)]
    sigma: np.ndarray  # [n, L] sqrt(E[(log p_t(z))^2] - mu^2)
    zlib_bytes: np.ndarray  # [n] zlib-compressed length of each text


def zlib_length(text: str) -> int:
    """Bytes of the zlib-compressed UTF-8 text (Carlini et al.'s zlib entropy)."""
    return len(zlib.compress(text.encode("utf-8")))


def min_k_tokens(n_tokens: int | np.ndarray, ratio: float = MIN_K_RATIO) -> np.ndarray:
    """k of Min-K% for texts of ``n_tokens`` scored tokens: max(1, floor(ratio * n))."""
    n = np.asarray(n_tokens, dtype=np.int64)
    return np.maximum(1, np.floor(n * ratio + 1e-9).astype(np.int64))


def _lowest_mean(values: np.ndarray, ratio: float) -> np.ndarray:
    """Row-wise mean of the :func:`min_k_tokens` smallest non-NaN values of each row."""
    out = np.empty(len(values))
    for i, row in enumerate(values):
        v = np.sort(row[~np.isnan(row)])
        out[i] = v[: int(min_k_tokens(len(v), ratio))].mean() if len(v) else np.nan
    return out


def loss_score(s: TokenStats) -> np.ndarray:
    return -np.nanmean(-s.logprob, axis=1)


def zlib_score(s: TokenStats) -> np.ndarray:
    """Minus (mean token NLL) / zlib bytes (Carlini et al. 2021; MUSE's ``PPL/zlib``)."""
    return -np.nanmean(-s.logprob, axis=1) / s.zlib_bytes


def min_k_score(s: TokenStats, ratio: float = MIN_K_RATIO) -> np.ndarray:
    return _lowest_mean(s.logprob, ratio)


def min_k_pp_score(s: TokenStats, ratio: float = MIN_K_RATIO) -> np.ndarray:
    z = (s.logprob - s.mu) / np.maximum(s.sigma, 1e-6)
    return _lowest_mean(z, ratio)


def attack_scores(s: TokenStats, ratio: float = MIN_K_RATIO) -> dict[str, np.ndarray]:
    """Every attack's per-text score (higher = more member-like)."""
    return {
        "loss": loss_score(s),
        "zlib": zlib_score(s),
        "min_k": min_k_score(s, ratio),
        "min_k_pp": min_k_pp_score(s, ratio),
    }


def muse_auc(forget_scores: np.ndarray, holdout_scores: np.ndarray) -> float:
    """MUSE's AUC: forget texts labelled 0, holdout texts 1, ranked by the member-likeness
    score: P(holdout > forget), ties half. Near 0 = the forget set is still recognized."""
    f = np.asarray(forget_scores, dtype=np.float64)
    h = np.asarray(holdout_scores, dtype=np.float64)
    labels = np.concatenate([np.zeros(len(f), bool), np.ones(len(h), bool)])
    return auc(np.concatenate([f, h]), labels)


def attack_aucs(forget: TokenStats, holdout: TokenStats) -> dict[str, float]:
    """MUSE's AUC (:func:`muse_auc`) of each attack on ``forget`` vs ``holdout`` texts."""
    a, b = attack_scores(forget), attack_scores(holdout)
    return {name: muse_auc(a[name], b[name]) for name in ATTACKS}


def paired_bootstrap_auc(
    forget_scores: np.ndarray,
    holdout_scores: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 200,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of :func:`muse_auc`, resampling forget / holdout pairs (item i of
    each comes from one fact) with replacement."""
    n = len(forget_scores)
    if n == 0:
        return float("nan"), float("nan")
    vals = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, size=n)
        vals[b] = muse_auc(forget_scores[i], holdout_scores[i])
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def privleak(auc_unlearned: float, auc_retrain: float) -> float:
    """MUSE's PrivLeak in percent: (AUC_unlearned - AUC_retrain) / AUC_retrain * 100, both
    AUCs :func:`muse_auc` (negative = under-unlearned, positive = over-unlearned)."""
    if not math.isfinite(auc_retrain) or auc_retrain <= 0:
        return float("nan")
    return (auc_unlearned - auc_retrain) / auc_retrain * 100.0
