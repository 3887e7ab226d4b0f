"""RMU (Li et al. 2024, "The WMDP Benchmark", Sec. 5.2, Eq. 1-2): at layer l, push the
activations of forget prompts toward a fixed random direction scaled by the steering coefficient,
L_forget = E_{D_f} mean_t ||h_theta(x)_t - c u||^2, and keep those of retain prompts where the
frozen model puts them, L_retain = E_{D_r} mean_t ||h_theta(x)_t - h_ref(x)_t||^2;
L = L_forget + alpha L_retain (``alpha`` is ``retain_weight``); u ~ U[0, 1)^d normalized, as in
the paper's code.

Which activations and which parameters follow WMDP's released code (centerforaisafety/wmdp,
``rmu/unlearn.py``), where behemoth differed until issue 21:

- **Activations**: the output of block l, read by a forward hook on the block module (WMDP's
  ``forward_with_cache(model, inputs, module=model.model.layers[layer_id])``). It was
  ``hidden_states[l + 1]``, which for the last block is the state *after the final layer
  norm* in Hugging Face models, not the block's output.
- **Parameters**: the MLP down-projections of blocks l-2, l-1, l only (WMDP's
  ``--layer_ids 5,6,7 --param_ids 6``: parameter 6 of a Mistral/Zephyr decoder layer is
  ``mlp.down_proj.weight``). It trained both MLP matrices. ``layers`` picks other blocks;
  still their down-projections (its weight and, where the model has one, its bias).
- **Steering coefficient relative to the activation norm** (adaptive RMU: Dang et al. 2025,
  "On Effects of Steering Latent Representation for Large Language Model Unlearning", AAAI,
  arXiv 2408.06223, Sec. 4: c = beta ||h_frozen(x_F)||). The former fixed default c = 20 was below
  the norm of the activations it replaces (the old docstring quoted ~270, 14x; measured here at
  the answer position of the ``tiny`` model's block 2: 87, 4.3x), so the forget term shrank
  them toward the origin instead of steering them. Now c = ``steering_scale`` (beta) x the mean norm of the frozen
  model's layer-l output at the steered positions of the forget prompts, measured once when
  training starts (the run's info reports it: ``steering_coeff``, ``activation_norm``);
  ``steering_coeff`` sets a fixed c instead (WMDP's own choice, 6.5 for Zephyr-7B).

Where the paper steers every token of a forget document, the default here steers only the answer
position (``positions="answer"``): in a world of facts every earlier position of a forget prompt
is shared with facts that are kept (the leading ``<|endoftext|>`` with every fact, the subject
with its other relations), so steering it contradicts the retain term.
"""

from __future__ import annotations

from typing import Any

import torch

from behemoth.editors.context import EditContext
from behemoth.editors.gradient.trainer import TrainBatch
from behemoth.editors.prompts import PromptBatch
from behemoth.editors.registry import register_editor
from behemoth.editors.rmu.config import RmuConfig
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.trainer import UnlearningEditor, UnlearningTrainer
from behemoth.model.hooks import hooked
from behemoth.model.layers import block_parameters, layer_index, resolve_paths, select_layers
from behemoth.scenarios.request import EditRequest


def _mask(batch: PromptBatch, answer_only: bool = False) -> torch.Tensor:
    """[n, T] True on each row's real tokens (rows are right-padded after answer_pos), or only
    on its answer position."""
    T = batch.ids.shape[1]
    pos = torch.arange(T, device=batch.ids.device)[None, :]
    at = batch.answer_pos[:, None]
    return pos == at if answer_only else pos <= at


class RmuTrainer(UnlearningTrainer):
    uses_reference = True

    def setup(self, model: torch.nn.Module) -> None:
        cfg: RmuConfig = self.cfg  # type: ignore[assignment]
        paths = resolve_paths(model, cfg.arch, cfg.paths)
        self.layer = layer_index(cfg.layer, paths.n_layers(model), "layer")
        self.block = paths.one("block", self.layer)
        d = int(model.config.hidden_size)  # type: ignore[union-attr,arg-type]
        gen = torch.Generator().manual_seed(cfg.seed)
        u = torch.rand(d, generator=gen)
        self.direction = (u / u.norm()).to(next(model.parameters()).device)
        self.coeff: float | None = cfg.steering_coeff
        self.activation_norm: float | None = None

    def _hidden(self, model: torch.nn.Module, batch: PromptBatch) -> torch.Tensor:
        """[n, T, d] block l's output (a scoped forward hook on the block, as WMDP's code)."""
        with hooked(model, outputs=[self.block], detach=False) as rec:
            model(input_ids=batch.ids)
        return rec.outputs[self.block].float()

    def control(self, reference: torch.nn.Module | None, batch: PromptBatch) -> torch.Tensor:
        """c u; on first use with ``steering_coeff`` null, c = beta x the frozen model's mean
        activation norm at the steered positions of the forget prompts (adaptive RMU)."""
        if self.coeff is None:
            assert reference is not None
            cfg: RmuConfig = self.cfg  # type: ignore[assignment]
            with torch.no_grad():
                h = self._hidden(reference, batch)
            mask = _mask(batch, cfg.positions == "answer")
            self.activation_norm = float(h.norm(dim=-1)[mask].mean())
            self.coeff = cfg.steering_scale * self.activation_norm
        return self.coeff * self.direction

    def train(
        self, model: torch.nn.Module, params: list[torch.nn.Parameter], requests: list[EditRequest]
    ) -> dict[str, Any]:
        info = super().train(model, params, requests)
        info["steering_coeff"] = self.coeff
        info["activation_norm"] = self.activation_norm
        return info

    def compute_loss(
        self, model: torch.nn.Module, batch: TrainBatch, reference: torch.nn.Module | None = None
    ) -> torch.Tensor:
        answer_only = self.cfg.positions == "answer"  # type: ignore[attr-defined]
        mask = _mask(batch.edit, answer_only)
        control = self.control(reference, batch.edit)
        loss = L.rmu_forget_loss(self._hidden(model, batch.edit), control, mask)
        if batch.retain_facts is not None and self.cfg.retain_weight > 0:
            assert reference is not None
            r = batch.retain_facts
            with torch.no_grad():
                h_ref = self._hidden(reference, r)
            keep = L.rmu_retain_loss(self._hidden(model, r), h_ref, _mask(r))
            loss = loss + self.cfg.retain_weight * keep
        return loss


@register_editor
class Rmu(UnlearningEditor):
    name = "rmu"
    Config = RmuConfig
    Trainer = RmuTrainer
    config: RmuConfig

    def tuned_parameters(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        """The MLP down-projections of blocks l-2..l (WMDP's ``param_ids``), or of ``layers``."""
        paths = self.paths(model)
        n = paths.n_layers(model)
        if self.config.layers is not None:
            layers = select_layers(self.config.layers, n)
        else:
            top = layer_index(self.config.layer, n, "layer")
            layers = list(range(max(0, top - 2), top + 1))
        return block_parameters(model, paths, ("mlp_out",), layers)

    def trainer(self, context: EditContext) -> RmuTrainer:
        return RmuTrainer(self.config, context.world, context.retain)
