"""The unlearning objectives, as pure functions of log-probabilities and activations.

Notation: x a prompt, y its answer (one object token here, so |y| = 1), pi_theta the model
being unlearned, pi_ref the frozen original. D_f the forget set, D_r the retain set. Every
function returns the scalar to *minimize*.

- Gradient ascent (GA; Jang et al. 2023, "Knowledge Unlearning", Eq. 2; TOFU Sec. 4):
  L = E_{D_f}[log pi_theta(y|x)]  (the forget NLL, maximized).
- Gradient difference (GradDiff; Liu et al. 2022, "Continual Learning and Private Unlearning";
  TOFU Sec. 4): L = L_GA + lambda * L_retain, with L_retain the retain NLL or
  KL(pi_ref(.|x) || pi_theta(.|x)) on retain prompts (TOFU's "KL minimization").
- NPO (Zhang et al. 2024, "Negative Preference Optimization", Eq. 3):
  L = -(2/beta) E_{D_f}[log sigmoid(-beta log(pi_theta(y|x) / pi_ref(y|x)))].
- SimNPO (Fan et al. 2024, "Simplicity Prevails", Eq. 4): no reference model,
  L = -(2/beta) E_{D_f}[log sigmoid(-(beta/|y|) log pi_theta(y|x) - gamma)].
- RMU (Li et al. 2024, "The WMDP Benchmark", Sec. 5.2, Eq. 1-2): at layer l,
  L_forget = E_{D_f} mean_t ||h_theta(x)_t - c u||^2 with u a fixed random unit vector and c the
  steering coefficient; L_retain = E_{D_r} mean_t ||h_theta(x)_t - h_ref(x)_t||^2.
- Target tuning (refusal tuning, TOFU's "IDK" baseline, Maini et al. 2024 Sec. 4; and the
  reference generator's "relabel" forgetting): L = -E_{D_f}[log pi_theta(y'|x)] for a fixed
  replacement answer y' (the refusal token, or one real object of the relation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ga_loss(lp_forget: torch.Tensor) -> torch.Tensor:
    """Gradient ascent: mean log pi_theta(y|x) over the forget set ([n] log-probs)."""
    return lp_forget.mean()


def nll_loss(lp: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the given answers."""
    return -lp.mean()


def kl_to_reference(logp_theta: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(pi_ref || pi_theta) between two [n, V] next-token log-distributions."""
    return F.kl_div(logp_theta, logp_ref, log_target=True, reduction="batchmean")


def npo_loss(lp_forget: torch.Tensor, lp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024, Eq. 3): -(2/beta) mean log sigmoid(-beta (lp - lp_ref))."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (lp_forget - lp_ref)).mean()


def simnpo_loss(
    lp_forget: torch.Tensor, lengths: torch.Tensor, beta: float, gamma: float
) -> torch.Tensor:
    """SimNPO (Fan et al. 2024, Eq. 4): -(2/beta) mean log sigmoid(-(beta/|y|) lp - gamma)."""
    return -(2.0 / beta) * F.logsigmoid(-(beta / lengths) * lp_forget - gamma).mean()


def rmu_forget_loss(h: torch.Tensor, control: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMU's forget term (Li et al. 2024, Eq. 1): mean over real tokens of ||h_t - c u||^2.

    ``h`` [n, T, d] activations, ``control`` [d] = c u, ``mask`` [n, T] bool (not padding)."""
    sq = (h - control).pow(2).sum(-1)  # [n, T]
    return (sq * mask).sum() / mask.sum().clamp_min(1)


def rmu_retain_loss(h: torch.Tensor, h_ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMU's retain term (Li et al. 2024, Eq. 2): mean over real tokens of ||h_t - h_ref_t||^2."""
    sq = (h - h_ref).pow(2).sum(-1)
    return (sq * mask).sum() / mask.sum().clamp_min(1)
