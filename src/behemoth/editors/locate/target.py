"""Optimizing the target vector of an edit: ROME's v* (Sec. 3.1, Eq. 4) and MEMIT's z_i (Eq. 16).

A vector delta_i is added to the output of one module (ROME: the edited MLP; MEMIT: the block
whose output is the residual stream at the top edited layer) at the edit position, and
optimized with Adam so that the new object becomes likely:

    L(delta) = mean_j -log P(o_new | x_j + p)                 (NLL over the prefixed prompts)
             + kl_factor * KL(P_delta(. | p') || P_orig(. | p'))   (essence-drift term)
             + weight_decay * (|delta| / |v_0|)^2

and clamped to |delta| <= clamp_norm_factor * |v_0| after every step; v_0 is the module's
output for the plain prompt (its norm floored at the module's typical output norm on the
corpus: on the ``tiny`` model some edit sites have |v_0| 20x below the typical norm, and the
decay and clamp then forbid any edit). The target is v_0 + delta. The original code's decay term is
|delta| / |v_0|^2 (not squared, not scale-free); the squared ratio used here is an ordinary
L2 penalty in the units of the clamp. The KL term has the paper's direction (ROME Eq. 4,
D_KL(P_G'[x | p'] || P_G[x | p']), and the reference code's ``kl_div(init, current)``): the
edited distribution's own mass is what is penalized where the original had little. Requests are optimized together but independently (one
delta per request, losses summed, a request stops once its NLL is below ``nll_stop``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from behemoth.editors.prompts import PromptBatch
from behemoth.model.hooks import add_at, hooked


@dataclass
class TargetResult:
    init: torch.Tensor  # [n, d] v_0: the module's output at the edit position, plain prompt
    delta: torch.Tensor  # [n, d] the optimized offset
    nll: list[float]  # final NLL of each request's target
    steps: int

    @property
    def target(self) -> torch.Tensor:
        return self.init + self.delta


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[None]:
    """Temporarily stop gradients to every parameter (only the edit vector is optimized)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def _per_request(values: torch.Tensor, request: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of row ``values`` [rows] per request -> [n]."""
    total = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, request, values)
    count = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(
        0, request, torch.ones_like(values)
    )
    return total / count.clamp_min(1)


def _answer_logp(model: torch.nn.Module, batch: PromptBatch) -> torch.Tensor:
    logits = model(input_ids=batch.ids).logits  # [rows, T, V]
    rows = torch.arange(len(batch), device=logits.device)
    return torch.log_softmax(logits[rows, batch.answer_pos].float(), dim=-1)  # [rows, V]


def optimize_targets(
    model: torch.nn.Module,
    module: str,
    rewrite: PromptBatch,
    kl: PromptBatch | None,
    n_requests: int,
    *,
    steps: int = 20,
    lr: float = 0.5,
    kl_factor: float = 0.0625,
    weight_decay: float = 0.5,
    clamp_norm_factor: float = 4.0,
    nll_stop: float = 0.05,
    min_scale: float = 0.0,
) -> TargetResult:
    """Optimize one delta per request (see the module docstring for the loss).

    ``min_scale`` floors |v_0| in the decay and clamp: an edit site whose output happens to be
    tiny would otherwise allow no change at all (pass the module's typical output norm).
    """
    dev = next(model.parameters()).device
    rewrite = rewrite.to(dev)
    kl = kl.to(dev) if kl is not None else None
    was_training = model.training
    model.eval()
    with torch.no_grad(), hooked(model, outputs=[module]) as rec:
        model(input_ids=rewrite.ids)
        out = rec.outputs[module]  # [rows, T, d]
        # The first row of each request is its plain (unprefixed) prompt.
        first = torch.stack([torch.nonzero(rewrite.request == i)[0, 0] for i in range(n_requests)])
        init = out[first, rewrite.edit_pos[first]].float()  # [n, d]
        kl_ref = _answer_logp(model, kl) if kl is not None and kl_factor > 0 else None
    init_norm = init.norm(dim=1).clamp_min(max(min_scale, 1e-12))  # [n]
    max_norm = clamp_norm_factor * init_norm
    delta = torch.zeros_like(init, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    nll = torch.full((n_requests,), float("inf"), device=dev)
    done = torch.zeros(n_requests, dtype=torch.bool, device=dev)
    step = 0
    with frozen(model):
        for step in range(steps + 1):
            with hooked(model, patch={module: add_at(delta[rewrite.request], rewrite.edit_pos)}):
                logp = _answer_logp(model, rewrite)
            rows = torch.arange(len(rewrite), device=dev)
            nll = _per_request(-logp[rows, rewrite.target], rewrite.request, n_requests)  # [n]
            done = done | (nll.detach() < nll_stop)
            if bool(done.all()) or step == steps:
                break
            loss = nll
            if kl is not None and kl_ref is not None:
                with hooked(model, patch={module: add_at(delta[kl.request], kl.edit_pos)}):
                    kl_logp = _answer_logp(model, kl)
                kl_rows = (kl_logp.exp() * (kl_logp - kl_ref)).sum(dim=-1)  # KL(P_delta || P_orig)
                loss = loss + kl_factor * _per_request(kl_rows, kl.request, n_requests)
            loss = loss + weight_decay * (delta.norm(dim=1) / init_norm) ** 2
            keep = delta.detach().clone()
            opt.zero_grad()
            loss[~done].sum().backward()
            opt.step()
            with torch.no_grad():
                delta[done] = keep[done]
                norms = delta.norm(dim=1)
                scale = torch.where(
                    norms > max_norm, max_norm / norms.clamp_min(1e-12), torch.ones_like(norms)
                )
                delta.mul_(scale[:, None])
    model.train(was_training)
    return TargetResult(init.detach(), delta.detach(), [float(x) for x in nll.detach().cpu()], step)
