"""ROME: Rank-One Model Editing (Meng et al. 2022, "Locating and Editing Factual Associations
in GPT", NeurIPS; arXiv 2202.05262), with the r-ROME correction (Gupta et al. 2024, arXiv
2403.07175).

One MLP down-projection W (d_ff -> d) of one layer is changed by a rank-one update so that the
key of the edited fact maps to a new value:

1. k* = mean_j k(x_j + p): the input of W at the edit position, averaged over the prompt alone
   and after random corpus contexts (Sec. 3.1, Eq. 3).
2. C = E[k k^T] over the training corpus (Eq. 2; :mod:`behemoth.editors.locate.stats`).
3. delta, optimized to make the new object likely when added to the module's output at the
   edit position of every context (Eq. 4; :mod:`behemoth.editors.locate.target`).
4. W' = W + delta (C^-1 k*)^T / ((C^-1 k*)^T k*)  (Eq. 2's closed form), so that
   W' k* = W k* + delta exactly. The original code puts the key of the plain prompt in the
   denominator while C^-1 k* uses the averaged key; r-ROME (Gupta et al. 2024, "Rebuilding
   ROME: Resolving Model Collapse during Sequential Model Editing", arXiv 2403.07175, Sec. 4)
   shows this mismatch causes the "disabling edits" of sequential editing and uses k* in both
   places, as here.

The numerator is delta, as in the r-ROME authors' released code (scalable-model-editing/
rebuilding-rome, ``r_rome/r_rome_main.py``: ``targets = zs - cur_zs``, the target z = v_0 +
delta minus the current output at the *plain* prompt, v_0, i.e. delta). It is not
v_0 + delta - W k* - b, the literal "W' k* = v*" reading of Eq. 2 with v_0 the plain prompt's
output, which adds W (k_plain - k*) to the numerator: delta was optimized as an offset added to
*every* context's own output (plain and prefixed rows alike), and the mean of those outputs is
W k* + b, so W k* + b + delta is the value the optimization found. Until issue 21 behemoth had
both (``value=averaged`` / ``value=r-rome``), and ``value=r-rome`` was the one the authors'
code does not compute; there is now one update, the authors'. Each request reports
``key_shift_norm`` = |v_0 - (W k* + b)|, the part of the plain prompt's output the averaged key
does not share.

The solve C^-1 k* carries a ridge relative to C's trace (``solve_ridge``) and the update is
refused, never written, when its norm is absurd against the layer's (``max_update_ratio``;
:mod:`behemoth.editors.locate.solve`).

Several requests are applied one after another, each on the model edited by the previous.
"""

from __future__ import annotations

from typing import Any

import torch

from behemoth.editors.base import EditOutcome, WeightEditor
from behemoth.editors.context import EditContext
from behemoth.editors.locate.common import (
    mean_keys,
    prefixes_for,
    stats_for,
    target_settings,
    typical_output_norm,
)
from behemoth.editors.locate.solve import check_update, solve, trace_ridge
from behemoth.editors.locate.target import optimize_targets
from behemoth.editors.prompts import kl_batch, rewrite_batch
from behemoth.editors.registry import register_editor
from behemoth.editors.rome.config import RomeConfig
from behemoth.errors import BehemothError
from behemoth.model.layers import layer_index, linear_weight
from behemoth.scenarios.request import EditRequest


@register_editor
class RomeEditor(WeightEditor):
    name = "rome"
    Config = RomeConfig
    config: RomeConfig

    def _module(self, model: torch.nn.Module) -> str:
        paths = self.paths(model)
        return paths.one("mlp_out", layer_index(self.config.layer, paths.n_layers(model)))

    def _prepare(self, model: torch.nn.Module, context: EditContext) -> None:
        world = context.world
        module = self._module(model)
        self.C = (
            stats_for(self.config, model, context, [module])[module]
            if self.config.mom2_adjustment
            else None
        )
        self.scale = typical_output_norm(model, world, module)

    def _edit(
        self, model: torch.nn.Module, requests: list[EditRequest], context: EditContext
    ) -> EditOutcome:
        cfg = self.config
        module = self._module(model)
        W = linear_weight(model, module)
        bias = getattr(model.get_submodule(module), "bias", None)
        info: dict[str, Any] = {"layer": module, "requests": []}
        ks, vs = [], []
        prefixes = prefixes_for(cfg, context.world, context.editor_facts)
        for req in requests:
            rw = rewrite_batch([req], cfg.token, prefixes)
            kl = (
                kl_batch([req], cfg.token, context.world, cfg.kl_prompts, context.editor_facts)
                if cfg.kl_prompts != "none"
                else None
            )
            k_star = mean_keys(model, [module], rw, 1)[module][0]  # [d_ff] float64
            tgt = optimize_targets(
                model,
                module,
                rw,
                kl,
                1,
                **target_settings(cfg),
                min_scale=self.scale,
            )
            delta = tgt.delta[0].double().to(k_star.device)  # [d]
            with torch.no_grad():
                W64 = W.detach().double()
                b64 = bias.detach().double() if bias is not None else torch.zeros_like(delta)
                v_avg = W64 @ k_star + b64  # = the mean output over the contexts (linear)
                v0 = tgt.init[0].double().to(k_star.device)  # the plain prompt's output
                v_star = v_avg + delta  # what k* maps to (r-ROME's code: numerator delta)
                u = self._solve(k_star, module)  # C^-1 k*  [d_ff]
                denom = u @ k_star  # (C^-1 k*)^T k*, with the SAME averaged key (r-ROME)
                if not torch.isfinite(denom) or denom <= 0:
                    raise BehemothError(
                        f"rome: degenerate key at {module} (k*^T C^-1 k* = {float(denom):.3g})"
                    )
                update = torch.outer(delta, u) / denom  # [d, d_ff], rank one
                ratio = check_update(
                    update,
                    W64,
                    max_ratio=cfg.max_update_ratio,
                    editor=self.name,
                    module=module,
                    covariance=self.C,
                )
                W.copy_((W64 + update).to(W.dtype))
            ks.append(k_star)
            vs.append(v_star)
            info["requests"].append(
                {
                    "nll": tgt.nll[0],
                    "steps": tgt.steps,
                    "delta_norm": float(delta.norm()),
                    "v0_norm": float(tgt.init.norm()),
                    "update_norm": float(update.norm()),
                    "update_ratio": ratio,
                    "key_shift_norm": float((v0 - v_avg).norm()),
                }
            )
        return EditOutcome(
            model, info=info, tensors={"k_star": torch.stack(ks), "v_star": torch.stack(vs)}
        )

    def _solve(self, k: torch.Tensor, module: str) -> torch.Tensor:
        """(C + mu I)^-1 k, mu = solve_ridge x trace(C) / d (:mod:`behemoth.editors.locate.solve`)."""
        if self.C is None:
            return k
        C = self.C.to(k.device)
        return solve(
            C,
            k[:, None],
            mu=trace_ridge(C, self.config.solve_ridge),
            editor=self.name,
            module=module,
            covariance=C,
        )[:, 0]
