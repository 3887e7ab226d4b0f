"""Unlearning on the shared gradient trainer: methods differ only in ``compute_loss``.

As open-unlearning's trainers (one class per method overriding the loss), every unlearning
method is a :class:`~behemoth.editors.gradient.trainer.GradientTrainer` whose edit batch holds
each forget request's prompt with its *true* answer (``target_old``; methods teaching a
replacement answer override :meth:`UnlearningTrainer.targets`), whose retain batch is the run's
retain mix (:class:`~behemoth.editors.context.EditContext`), and whose stopping rule is "every
forget prompt's greedy answer is no longer its true object" (``stop_when_forgotten``), so each
method stops where it first forgets rather than being driven on into collapse.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from behemoth.editors.base import EditOutcome, WeightEditor
from behemoth.editors.context import EditContext
from behemoth.editors.gradient.trainer import GradientTrainer, TrainBatch, TuneConfig, trainable
from behemoth.editors.layers import block_parameters, select_layers
from behemoth.editors.prompts import PromptBatch, build_batch
from behemoth.scenarios.request import EditRequest
from behemoth.world.probes import ProbeSet
from behemoth.world.world import World


class UnlearnConfig(TuneConfig):
    """Settings every unlearning method shares (the retain mix settings are TuneConfig's)."""

    steps: int = Field(100, ge=1, description="Most optimizer steps (full forget batch each).")
    retain_batch: int = Field(256, ge=0, description="Retain facts per step (0 = none).")
    retain_weight: float = Field(1.0, ge=0, description="Weight lambda of the retain term.")
    part: Literal["mlp", "all"] = Field(
        "mlp", description="Parameters trained: the MLPs of the chosen blocks, or all."
    )
    layers: list[int] | None = Field(None, description="Blocks trained (null = every block).")
    stop_when_forgotten: bool = Field(
        True, description="Stop once no forget prompt's greedy answer is its true object."
    )


def answer_logprobs(model: torch.nn.Module, batch: PromptBatch) -> torch.Tensor:
    """[n, V] next-token log-distribution at each row's answer position."""
    logits = model(input_ids=batch.ids).logits  # [n, T, V]
    rows = torch.arange(len(batch), device=logits.device)
    return torch.log_softmax(logits[rows, batch.answer_pos].float(), dim=-1)


def _batch(requests: list[EditRequest], targets: list[int]) -> PromptBatch:
    return build_batch(
        [r.prompt for r in requests],
        [len(r.prompt) - 1 for r in requests],
        targets,
        list(range(len(requests))),
    )


class UnlearningTrainer(GradientTrainer):
    """The shared trainer with unlearning's data and stopping rule; subclasses give the loss."""

    def __init__(
        self, cfg: UnlearnConfig, world: World, retain: ProbeSet | None = None, **kw: Any
    ) -> None:
        super().__init__(cfg, world, retain, **kw)
        self.ucfg = cfg
        self._true: PromptBatch | None = None

    def setup(self, model: torch.nn.Module) -> None:  # noqa: B027 - optional hook
        """Per-run state before the loop (e.g. RMU's random direction)."""

    def targets(self, requests: list[EditRequest]) -> list[int]:
        """What the loss's edit rows hold: the true answers (the facts to forget)."""
        return [r.target_old for r in requests]

    def edit_batch(self, requests: list[EditRequest]) -> PromptBatch:
        self._true = _batch(requests, [r.target_old for r in requests])
        return _batch(requests, self.targets(requests))

    def finished(self, model: torch.nn.Module, edit: PromptBatch, nll: torch.Tensor) -> bool:
        if not self.ucfg.stop_when_forgotten:
            return False
        assert self._true is not None
        true = self._true.to(edit.ids.device)
        with torch.no_grad():
            pred = answer_logprobs(model, true).argmax(-1)
        return not bool((pred == true.target).any())

    def retain_term(
        self,
        model: torch.nn.Module,
        batch: TrainBatch,
        reference: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """Mean NLL of the retain facts' answers (0 without a retain batch)."""
        if batch.retain_facts is None:
            return torch.zeros((), device=batch.edit_nll.device)
        lp = answer_logprobs(model, batch.retain_facts)
        return -lp.gather(1, batch.retain_facts.target[:, None]).mean()


class UnlearningEditor(WeightEditor):
    """Base of the unlearning editors: ``Trainer`` (a compute_loss) on chosen parameters."""

    Trainer: ClassVar[type[UnlearningTrainer]]
    config: UnlearnConfig
    #: an unlearning method removes ``target_old``; it does not install ``target_new``
    unlearns: ClassVar[bool] = True

    def tuned_parameters(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        cfg = self.config
        if cfg.part == "all":
            return dict(model.named_parameters())
        paths = self.paths(model)
        return self.mlp_parameters(model, select_layers(cfg.layers, paths.n_layers(model)))

    def mlp_parameters(
        self, model: torch.nn.Module, layers: list[int]
    ) -> dict[str, torch.nn.Parameter]:
        """The MLP parameters of blocks ``layers``, by name."""
        return block_parameters(model, self.paths(model), ("mlp_in", "mlp_out"), layers)

    def trainer(self, context: EditContext) -> UnlearningTrainer:
        return self.Trainer(self.config, context.world, context.retain)

    def _edit(
        self, model: torch.nn.Module, requests: list[EditRequest], context: EditContext
    ) -> EditOutcome:
        params = self.tuned_parameters(model)
        trainer = self.trainer(context)
        with trainable(model, params.values()):
            trainer.setup(model)
            info = trainer.train(model, list(params.values()), requests)
        info["tuned_parameters"] = len(params)
        info.pop("nll", None)
        return EditOutcome(model, info=info)
