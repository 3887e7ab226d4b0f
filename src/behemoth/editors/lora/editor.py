"""LoRA editing through PEFT (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language
Models", arXiv 2106.09685, Sec. 4.1): W + (alpha / r) B A with B [d_out, r], A [r, d_in].

The knobs are the rank (1 .. full width), alpha, dropout, the target modules (``query_key_value``,
``attention_dense``, ``mlp_in``, ``mlp_out``, ``head``; resolved to module names through the
layer paths) and the layers. The adapter is merged into the weights (a plain model; its delta
has rank <= r per matrix) or kept (the returned model is the PEFT wrapper; the reported deltas
are those of merging it, so they can still be applied and removed exactly).
"""

from __future__ import annotations

import copy
import warnings

import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict

from behemoth.editors.base import EditOutcome, WeightEditor
from behemoth.editors.context import EditContext
from behemoth.editors.gradient.trainer import GradientTrainer
from behemoth.editors.lora.config import LoraEditConfig
from behemoth.editors.registry import register_editor
from behemoth.errors import ConfigError
from behemoth.model.layers import linear_weight, select_layers, stored_transposed
from behemoth.scenarios.request import EditRequest

_PART = {
    "query_key_value": "attn_in",
    "attention_dense": "attn_out",
    "mlp_in": "mlp_in",
    "mlp_out": "mlp_out",
}


@register_editor
class LoraEditor(WeightEditor):
    name = "lora"
    Config = LoraEditConfig
    config: LoraEditConfig

    def target_modules(self, model: torch.nn.Module) -> list[str]:
        cfg = self.config  # targets non-empty: LoraEditConfig checks it
        paths = self.paths(model)
        n = paths.n_layers(model)
        layers = select_layers(cfg.layers, n)
        names: list[str] = []
        for t in cfg.targets:
            if t == "head":
                names.append(paths.head)
            else:
                names += [m for layer in layers for m in paths.at(_PART[t], layer)]
        return names

    def _prepare(self, model: torch.nn.Module, context: EditContext) -> None:
        """Refuse, before any compute, a rank no adapter of the targets can have: a LoRA
        update ``B A`` of a ``d_out x d_in`` matrix has rank <= min(d_in, d_out) (Hu et al.
        2021, arXiv 2106.09685, Sec. 4.1), so a larger ``r`` only wastes time and memory."""
        modules = dict(model.named_modules())
        for name in self.target_modules(model):
            weight = getattr(modules.get(name), "weight", None)
            if weight is None or weight.dim() != 2:
                continue
            d_out, d_in = linear_weight(model, name).shape
            bound = min(d_out, d_in)
            if self.config.rank > bound:
                raise ConfigError(
                    "rank",
                    f"{self.config.rank} exceeds min(in, out) = {bound} of {name} "
                    f"({d_in} -> {d_out})",
                    f"choose rank <= {bound}",
                )

    def _edit(
        self, model: torch.nn.Module, requests: list[EditRequest], context: EditContext
    ) -> EditOutcome:
        cfg = self.config
        flags = {n: p.requires_grad for n, p in model.named_parameters()}
        targets = self.target_modules(model)
        peft_cfg = LoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,  # type: ignore[arg-type]  # PEFT takes any number
            lora_dropout=cfg.dropout,
            target_modules=targets,
            bias="none",
            # GPT-2's Conv1D stores [in, out]; PEFT must know (it would warn and guess).
            fan_in_fan_out=any(stored_transposed(model, t) for t in targets),
        )
        with warnings.catch_warnings():
            # PEFT reads model.is_gradient_checkpointing, which transformers deprecates: PEFT's
            # call, nothing the user can act on
            warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
            wrapped = get_peft_model(model, peft_cfg)  # injects adapters into our private copy
        params = [p for p in wrapped.parameters() if p.requires_grad]
        info = GradientTrainer(cfg, context.world, context.retain).train(wrapped, params, requests)
        info["targets"] = targets
        if cfg.merge:
            merged = wrapped.merge_and_unload()
            for n, p in merged.named_parameters():
                p.requires_grad_(flags.get(n, p.requires_grad))
            return EditOutcome(merged, info=info)
        adapter = {k: v.detach().clone() for k, v in get_peft_model_state_dict(wrapped).items()}
        return EditOutcome(
            wrapped, info=info, tensors={f"adapter:{k}": v for k, v in adapter.items()}
        )

    def _weights(self, edited: torch.nn.Module) -> torch.nn.Module:
        """An adapter kept separate: the deltas are those of merging it (into a copy)."""
        if isinstance(edited, PeftModel):
            return copy.deepcopy(edited).merge_and_unload()
        return edited

    def _artifact(self, edited: torch.nn.Module) -> str:
        return "adapter" if isinstance(edited, PeftModel) else "model"
