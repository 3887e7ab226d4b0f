"""The unlearning methods, each a ``compute_loss`` on the shared loop (equations in ``losses``).

ga           gradient ascent on the forget set (Jang et al. 2023, Eq. 2)
graddiff     GA + retain NLL or KL to the original (Liu et al. 2022; TOFU Sec. 4)
npo          negative preference optimization, frozen reference (Zhang et al. 2024, Eq. 3)
simnpo       reference-free, length-normalized NPO with a margin (Fan et al. 2024, Eq. 4)
rmu          steer layer-l activations on forget prompts to c * u (Li et al. 2024, Eq. 1-2)
refusal      teach the world's refusal answer on the forget prompts (TOFU's IDK tuning)
relabel      teach one fixed real object of the relation (the reference generator's forgetting)
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from behemoth.editors.common import layer_index
from behemoth.editors.prompts import PromptBatch
from behemoth.editors.registry import register_editor
from behemoth.editors.unlearning import losses as L
from behemoth.editors.unlearning.trainer import (
    UnlearnConfig,
    UnlearningEditor,
    answer_logprobs,
    target_logprob,
)
from behemoth.errors import ConfigError
from behemoth.scenarios.request import EditRequest
from behemoth.world.vocab import OO


class RetainTermConfig(UnlearnConfig):
    retain_weight: float = Field(1.0, ge=0, description="Weight lambda of the retain term.")
    retain_loss: Literal["nll", "kl"] = Field(
        "nll", description="Retain term: NLL of the retain answers, or KL(original || model)."
    )


def _retain_term(
    editor: UnlearningEditor,
    cfg: RetainTermConfig,
    model: torch.nn.Module,
    retain: PromptBatch,
    reference: torch.nn.Module | None,
) -> torch.Tensor:
    logp = answer_logprobs(model, retain)
    if cfg.retain_loss == "kl":
        assert reference is not None
        with torch.no_grad():
            ref = answer_logprobs(reference, retain)
        return L.kl_to_reference(logp, ref)
    return L.nll_loss(target_logprob(logp, retain))


class GaConfig(UnlearnConfig):
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")


@register_editor
class GradientAscent(UnlearningEditor):
    """Maximize the forget set's NLL; nothing holds the rest in place."""

    name = "ga"
    Config = GaConfig

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        return L.ga_loss(target_logprob(answer_logprobs(model, forget), forget))


@register_editor
class GradDiff(UnlearningEditor):
    """GA on the forget set minus lambda times the retain loss (NLL, or KL to the original)."""

    name = "graddiff"
    Config = RetainTermConfig
    config: RetainTermConfig

    def _prepare(self, model: torch.nn.Module, world: object) -> None:
        self.needs_reference = self.config.retain_loss == "kl"

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        ga = L.ga_loss(target_logprob(answer_logprobs(model, forget), forget))
        return ga + self.config.retain_weight * _retain_term(
            self, self.config, model, retain, reference
        )


class NpoConfig(RetainTermConfig):
    beta: float = Field(0.1, gt=0, description="NPO inverse temperature beta (paper: 0.1).")


@register_editor
class Npo(UnlearningEditor):
    """NPO + retain term (the paper's NPO-RT when retain_weight > 0)."""

    name = "npo"
    Config = NpoConfig
    config: NpoConfig
    needs_reference = True

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        lp = target_logprob(answer_logprobs(model, forget), forget)
        with torch.no_grad():
            lp_ref = target_logprob(answer_logprobs(reference, forget), forget)
        loss = L.npo_loss(lp, lp_ref, self.config.beta)
        if self.config.retain_weight > 0:
            loss = loss + self.config.retain_weight * _retain_term(
                self, self.config, model, retain, reference
            )
        return loss


class SimNpoConfig(RetainTermConfig):
    beta: float = Field(2.5, gt=0, description="SimNPO beta (paper, TOFU: 2.5).")
    gamma: float = Field(0.0, ge=0, description="SimNPO reward margin gamma.")


@register_editor
class SimNpo(UnlearningEditor):
    """SimNPO + retain term; answers are one token, so |y| = 1."""

    name = "simnpo"
    Config = SimNpoConfig
    config: SimNpoConfig

    def _prepare(self, model: torch.nn.Module, world: object) -> None:
        self.needs_reference = self.config.retain_loss == "kl"

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        lp = target_logprob(answer_logprobs(model, forget), forget)
        loss = L.simnpo_loss(lp, torch.ones_like(lp), self.config.beta, self.config.gamma)
        if self.config.retain_weight > 0:
            loss = loss + self.config.retain_weight * _retain_term(
                self, self.config, model, retain, reference
            )
        return loss


class RmuConfig(UnlearnConfig):
    layer: int = Field(2, description="Layer l whose output (residual stream) is steered.")
    steering_coeff: float = Field(
        20.0, gt=0, description="c: norm of the control vector c * u (the paper's steering coeff)."
    )
    alpha: float = Field(10.0, ge=0, description="Weight of the retain term (paper's alpha).")
    layers: list[int] | None = Field(
        None, description="Blocks trained (null = the paper's l-2, l-1, l MLPs)."
    )

    @model_validator(mode="after")
    def _check_part(self) -> RmuConfig:
        if self.part != "mlp":
            raise ConfigError("part", "RMU trains MLPs only", "leave part=mlp")
        return self


@register_editor
class Rmu(UnlearningEditor):
    """Representation misdirection: forget activations -> c * u, retain activations kept."""

    name = "rmu"
    Config = RmuConfig
    config: RmuConfig
    needs_reference = True

    def setup(self, model: torch.nn.Module, requests: list[EditRequest]) -> None:
        n = self.paths(model).n_layers(model)
        self._layer = layer_index(self.config.layer, n, "layer")
        d = int(model.config.hidden_size)  # type: ignore[union-attr,arg-type]
        gen = torch.Generator().manual_seed(self.config.seed)
        u = torch.rand(d, generator=gen)  # the paper samples uniform [0, 1), then normalizes
        dev = next(model.parameters()).device
        self._control = (self.config.steering_coeff * u / u.norm()).to(dev)

    def tuned_parameters(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        if self.config.layers is None:
            n = self.paths(model).n_layers(model)
            top = layer_index(self.config.layer, n, "layer")
            self.config = self.config.model_copy(
                update={"layers": list(range(max(0, top - 2), top + 1))}
            )
        return super().tuned_parameters(model)

    def _hidden(self, model: torch.nn.Module, batch: PromptBatch) -> torch.Tensor:
        out = model(input_ids=batch.ids, output_hidden_states=True)
        return out.hidden_states[self._layer + 1].float()  # [n, T, d]: block l's output

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        fmask = _mask(forget)
        rmask = _mask(retain)
        loss_f = L.rmu_forget_loss(self._hidden(model, forget), self._control, fmask)
        with torch.no_grad():
            h_ref = self._hidden(reference, retain)
        loss_r = L.rmu_retain_loss(self._hidden(model, retain), h_ref, rmask)
        return loss_f + self.config.alpha * loss_r


def _mask(batch: PromptBatch) -> torch.Tensor:
    """[n, T] True on each row's real tokens (rows are right-padded up to answer_pos)."""
    T = batch.ids.shape[1]
    return torch.arange(T, device=batch.ids.device)[None, :] <= batch.answer_pos[:, None]


class TargetConfig(RetainTermConfig):
    pass


@register_editor
class RefusalTuning(UnlearningEditor):
    """Teach the refusal answer (the world's refusal filler ``OO``) on the forget prompts."""

    name = "refusal"
    Config = TargetConfig
    config: TargetConfig

    def forget_targets(self, requests: list[EditRequest]) -> list[int]:
        return [OO] * len(requests)

    def _prepare(self, model: torch.nn.Module, world: object) -> None:
        self.needs_reference = self.config.retain_loss == "kl"

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        loss = L.nll_loss(target_logprob(answer_logprobs(model, forget), forget))
        return loss + self.config.retain_weight * _retain_term(
            self, self.config, model, retain, reference
        )


class RelabelConfig(RetainTermConfig):
    object: int = Field(0, ge=0, description="The real object (index in each relation) taught.")


@register_editor
class Relabel(UnlearningEditor):
    """Teach one fixed real object of each fact's relation (facts already holding it get the
    next object), as the reference generator forgets."""

    name = "relabel"
    Config = RelabelConfig
    config: RelabelConfig

    def forget_targets(self, requests: list[EditRequest]) -> list[int]:
        V = self.world.vocab
        n_obj = self.world.config.objects
        if self.config.object >= n_obj:
            raise ConfigError(
                "object", f"object {self.config.object} does not exist", f"choose 0..{n_obj - 1}"
            )
        out = []
        for r in requests:
            o = (
                self.config.object
                if r.old_object != self.config.object
                else ((self.config.object + 1) % n_obj)
            )
            out.append(int(V.object(r.relation, o)))
        return out

    def _prepare(self, model: torch.nn.Module, world: object) -> None:
        self.needs_reference = self.config.retain_loss == "kl"

    def compute_loss(self, model, forget, retain, reference):  # type: ignore[no-untyped-def]
        loss = L.nll_loss(target_logprob(answer_logprobs(model, forget), forget))
        return loss + self.config.retain_weight * _retain_term(
            self, self.config, model, retain, reference
        )
