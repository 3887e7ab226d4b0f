"""Unlearning on the shared gradient trainer: methods differ only in ``compute_loss``.

As open-unlearning's trainers (one class per method overriding the loss), every unlearning
method is a :class:`~behemoth.editors.gradient.trainer.GradientTrainer` whose edit batch holds
each forget request's prompt with its *true* answer (``target_old``; methods teaching a
replacement answer override :meth:`UnlearningTrainer.targets`) and whose retain batch is the
run's retain mix (:class:`~behemoth.editors.context.EditContext`).

Stopping rule (issue 21). TOFU (Maini et al. 2024, Sec. 4) and open-unlearning train for a
fixed budget; a rule that stops "once no forget prompt is answered" and then reports forget
accuracy on those very prompts makes "every method reaches the oracle's forget accuracy" true
by construction. Here the rule (``stop_when_forgotten``, default on) watches a **validation
split** only: :func:`stop_edges` sets aside a seeded ``stop_share`` of the forget facts (still
unlearned like the others); training stops before the first step at which none of *their*
prompts' greedy answer is its true object, else after ``steps``. Forget accuracy, forget
quality and the membership attacks are measured on the other forget facts
(:class:`behemoth.evaluation.unlearning.report.ForgetSplit` drops the stop facts), prompts the
rule never saw. With ``stop_when_forgotten: false`` the run is the fixed budget of ``steps``.
Either way the run's info records the rule (``stopping``: "validation" or "budget") and the
stopping facts (``stop_edges``: flat ``s * R + r``; ``stop_requests``: their request indices).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from behemoth.editors.base import EditOutcome, WeightEditor
from behemoth.editors.context import EditContext
from behemoth.editors.gradient.trainer import GradientTrainer, TrainBatch, TuneConfig, trainable
from behemoth.editors.prompts import PromptBatch, build_batch
from behemoth.model.layers import block_parameters, select_layers
from behemoth.scenarios.request import EditRequest
from behemoth.world.probes import ProbeSet
from behemoth.world.rng import derive_rng
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
        True,
        description="Stop once no validation forget prompt (a stop_share of the forget facts, "
        "never measured) is answered with its true object; false = the fixed budget of steps.",
    )
    stop_share: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of the forget facts whose prompts the stopping rule watches "
        "(at least one; none when a batch has a single fact: then the budget decides).",
    )


def stop_edges(edges: np.ndarray, share: float) -> np.ndarray:
    """The stopping rule's validation facts among the forget facts ``edges`` (flat ``s * R + r``):
    a seeded ``share`` of the distinct ones (at least 1, and none of a single fact), sorted. A
    pure function of the set of edges, so the measurement (``ForgetSplit``) can leave the very
    same facts out without being told."""
    e = np.unique(np.asarray(edges, dtype=np.int64))
    if len(e) < 2:
        return np.zeros(0, dtype=np.int64)
    k = min(len(e) - 1, max(1, int(round(share * len(e)))))
    perm = derive_rng(len(e), "unlearning-stop").permutation(len(e))
    return np.sort(e[perm[:k]])


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
        self._stop_rows: list[int] = []
        self._stop_edges: list[int] = []

    def setup(self, model: torch.nn.Module) -> None:  # noqa: B027 - optional hook
        """Per-run state before the loop (e.g. RMU's random direction)."""

    def targets(self, requests: list[EditRequest]) -> list[int]:
        """What the loss's edit rows hold: the true answers (the facts to forget)."""
        return [r.target_old for r in requests]

    def edit_batch(self, requests: list[EditRequest]) -> PromptBatch:
        self._stop_rows, self._stop_edges = [], []
        if self.ucfg.stop_when_forgotten:
            R = self.world.graph.n_relations
            flat = np.array([r.subject * R + r.relation for r in requests], dtype=np.int64)
            chosen = stop_edges(flat, self.ucfg.stop_share)
            self._stop_rows = [int(i) for i in np.flatnonzero(np.isin(flat, chosen))]
            self._stop_edges = [int(x) for x in chosen]
        watched = [requests[i] for i in self._stop_rows]
        self._true = _batch(watched, [r.target_old for r in watched]) if watched else None
        return _batch(requests, self.targets(requests))

    def stop_info(self) -> dict[str, Any]:
        """The stopping rule of the last run and the facts it watched (for the run's records)."""
        return {
            "stopping": "validation" if self._stop_rows else "budget",
            "stop_share": self.ucfg.stop_share if self._stop_rows else 0.0,
            "stop_edges": list(self._stop_edges),
            "stop_requests": list(self._stop_rows),
        }

    def finished(self, model: torch.nn.Module, edit: PromptBatch, nll: torch.Tensor) -> bool:
        """Stop once no *validation* forget prompt's greedy answer is its true object (never on
        the prompts forget accuracy is measured on; see the module doc)."""
        if self._true is None:
            return False
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
        info.update(trainer.stop_info())
        info["tuned_parameters"] = len(params)
        info.pop("nll", None)
        return EditOutcome(model, info=info)
