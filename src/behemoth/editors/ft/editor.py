"""Fine-tuning (FT) and constrained fine-tuning (FT-C) as editors.

Gradient steps on the edit prompts plus the retain mix (:mod:`behemoth.editors.gradient.trainer`), on all
weights or on the attention and/or MLP matrices of chosen blocks. FT-C (Zhu et al. 2020,
"Modifying Memories in Transformer Models", arXiv 2012.00363, Sec. 3) bounds the change of every
tuned parameter in the L-infinity norm: after each step W is projected back onto
{W : |W - W_0|_inf <= norm_constraint}, i.e. clamped entrywise to [W_0 - eps, W_0 + eps].
"""

from __future__ import annotations

import torch

from behemoth.editors.base import EditOutcome, WeightEditor
from behemoth.editors.context import EditContext
from behemoth.editors.ft.config import FtConfig
from behemoth.editors.gradient.trainer import GradientTrainer, trainable
from behemoth.editors.registry import register_editor
from behemoth.model.layers import block_parameters, select_layers
from behemoth.scenarios.request import EditRequest

PART_MODULES = {
    "mlp": ("mlp_in", "mlp_out"),
    "attention": ("attn_in", "attn_out"),
    "both": ("attn_in", "attn_out", "mlp_in", "mlp_out"),
}


@register_editor
class FtEditor(WeightEditor):
    name = "ft"
    Config = FtConfig
    config: FtConfig

    def tuned_parameters(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        """The parameters this config trains, by name."""
        cfg = self.config
        if cfg.part == "all":  # layers=null: FtConfig refuses both
            return dict(model.named_parameters())
        paths = self.paths(model)
        n = paths.n_layers(model)
        return block_parameters(model, paths, PART_MODULES[cfg.part], select_layers(cfg.layers, n))

    def _edit(
        self, model: torch.nn.Module, requests: list[EditRequest], context: EditContext
    ) -> EditOutcome:
        params = self.tuned_parameters(model)
        eps = self.config.norm_constraint
        originals = {n: p.detach().clone() for n, p in params.items()} if eps is not None else {}

        bound = float(eps) if eps is not None else 0.0

        @torch.no_grad()
        def project() -> None:  # FT-C: back onto the L-inf ball around W_0
            for n, p in params.items():
                p.copy_(torch.maximum(torch.minimum(p, originals[n] + bound), originals[n] - bound))

        trainer = GradientTrainer(
            self.config,
            context.world,
            context.retain,
            after_step=project if eps is not None else None,
        )
        with trainable(model, params.values()):
            info = trainer.train(model, list(params.values()), requests)
        info["tuned_parameters"] = len(params)
        return EditOutcome(model, info=info)
