"""Membership inference attacks on token log-probabilities, their AUC and privleak.

Every attack maps one text's per-token statistics to a score oriented **higher = more likely a
training member** (so an AUC of 1 means members are recognized, 0.5 that they look like
never-seen texts, and below 0.5 that they look *less* familiar than never-seen texts: an
over-suppression that is itself a leak, never "better forgetting").

- LOSS (Yeom et al. 2018): minus the mean token negative log-likelihood.
- zlib (Carlini et al. 2021, "Extracting Training Data from LLMs", Sec. 5.1): minus the ratio
  of the text's total NLL (nats) to its zlib-compressed length in bytes.
- Min-K% (Shi et al. 2024, "Detecting Pretraining Data", Eq. 3): the mean log-probability of
  the k% least likely tokens.
- Min-K%++ (Zhang et al. 2024, "Min-K%++", Eq. 5): the same over token scores normalized by
  the model's own distribution at that position, (log p(x_t) - mu_t) / sigma_t with
  mu_t = E_{z~p}[log p(z)] and sigma_t^2 = E_{z~p}[(log p(z))^2] - mu_t^2.

PrivLeak (MUSE, Shi et al. 2024, Sec. 3.3): (AUC_unlearned - AUC_retain) / AUC_retain, in
percent; 0 is the retain model, positive = under-unlearning, negative = over-unlearning.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from behemoth.evaluation.metrics import auc

#: Attack names, in report order.
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")


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


def _lowest_mean(values: np.ndarray, k: float) -> np.ndarray:
    """Row-wise mean of the ceil-free max(1, floor(k * L_row)) smallest non-NaN values."""
    out = np.empty(len(values))
    for i, row in enumerate(values):
        v = np.sort(row[~np.isnan(row)])
        take = max(1, int(len(v) * k))
        out[i] = v[:take].mean()
    return out


def loss_score(s: TokenStats) -> np.ndarray:
    return -np.nanmean(-s.logprob, axis=1)


def zlib_score(s: TokenStats) -> np.ndarray:
    return -np.nansum(-s.logprob, axis=1) / s.zlib_bytes


def min_k_score(s: TokenStats, k: float = 0.2) -> np.ndarray:
    return _lowest_mean(s.logprob, k)


def min_k_pp_score(s: TokenStats, k: float = 0.2) -> np.ndarray:
    z = (s.logprob - s.mu) / np.maximum(s.sigma, 1e-6)
    return _lowest_mean(z, k)


def attack_scores(s: TokenStats, k: float = 0.2) -> dict[str, np.ndarray]:
    """Every attack's per-text score (higher = more member-like)."""
    return {
        "loss": loss_score(s),
        "zlib": zlib_score(s),
        "min_k": min_k_score(s, k),
        "min_k_pp": min_k_pp_score(s, k),
    }


def attack_aucs(members: TokenStats, nonmembers: TokenStats, k: float = 0.2) -> dict[str, float]:
    """AUC of each attack separating ``members`` from ``nonmembers`` (0.5 = indistinguishable)."""
    a, b = attack_scores(members, k), attack_scores(nonmembers, k)
    labels = np.concatenate([np.ones(len(a["loss"]), bool), np.zeros(len(b["loss"]), bool)])
    return {name: auc(np.concatenate([a[name], b[name]]), labels) for name in ATTACKS}


def paired_bootstrap_auc(
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 200,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the AUC, resampling member / non-member pairs (item i of each
    comes from one fact) with replacement."""
    n = len(member_scores)
    if n == 0:
        return float("nan"), float("nan")
    labels = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    vals = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, size=n)
        vals[b] = auc(np.concatenate([member_scores[i], nonmember_scores[i]]), labels)
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    """MUSE's PrivLeak in percent: (AUC_unlearned - AUC_retain) / AUC_retain * 100."""
    if not math.isfinite(auc_retain) or auc_retain <= 0:
        return float("nan")
    return (auc_unlearned - auc_retain) / auc_retain * 100.0
