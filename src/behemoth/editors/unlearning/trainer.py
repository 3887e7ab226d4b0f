"""The gradient loop every unlearning method shares; methods differ only in ``compute_loss``.

As open-unlearning's trainers (one class per method overriding the loss), each method here is
an editor whose :meth:`UnlearningEditor.compute_loss` maps (model, forget batch, retain batch)
to the loss; the loop, the tuned parameters, the frozen reference model and the stopping rule
are shared. The forget batch holds every request's prompt with its *true* answer (the fact to
forget, ``target_old``); the retain batch, ``retain_batch`` facts drawn each step from the
retain mix the run hands over (never the scenario's held-out or test facts).

Stopping: after ``steps`` Adam steps, or earlier (``stop_when_forgotten``) once no forget
prompt's greedy answer is its true object, so that every method is stopped at the point it
first forgets, not driven on into collapse.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from behemoth.editors.base import Editor, EditorConfig, EditOutcome
from behemoth.editors.common import layer_index
from behemoth.editors.layers import get_module
from behemoth.editors.prompts import PromptBatch, build_batch
from behemoth.errors import BehemothError
from behemoth.scenarios.request import EditRequest
from behemoth.world.rng import derive_rng


class UnlearnConfig(EditorConfig):
    """Settings every unlearning method shares."""

    steps: int = Field(100, ge=1, description="Most optimizer steps (full forget batch each).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    part: Literal["mlp", "all"] = Field(
        "mlp", description="Parameters trained: the MLPs of the chosen blocks, or all."
    )
    layers: list[int] | None = Field(None, description="Blocks trained (null = every block).")
    retain_batch: int = Field(256, ge=1, description="Retain facts per step.")
    stop_when_forgotten: bool = Field(
        True, description="Stop once no forget prompt's greedy answer is its true object."
    )


def answer_logprobs(model: torch.nn.Module, batch: PromptBatch) -> torch.Tensor:
    """[n, V] next-token log-distribution at each row's answer position."""
    logits = model(input_ids=batch.ids).logits  # [n, T, V]
    rows = torch.arange(len(batch), device=logits.device)
    return torch.log_softmax(logits[rows, batch.answer_pos].float(), dim=-1)


def target_logprob(logp: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
    """[n] log-probability of each row's target."""
    return logp.gather(1, batch.target[:, None])[:, 0]


class RetainSampler:
    """``n`` random facts of a retain ProbeSet per step (prompt -> true answer)."""

    def __init__(self, probes: Any, n: int, seed: int) -> None:
        self.probes = probes
        self.n = min(n, len(probes))
        self.rng = derive_rng(seed, "unlearning-retain-batches")

    def next_batch(self) -> PromptBatch:
        rows = np.sort(self.rng.choice(len(self.probes), size=self.n, replace=False))
        prompts = [tuple(int(t) for t in self.probes.prompt(int(i))) for i in rows]
        return build_batch(
            prompts,
            [len(p) - 1 for p in prompts],
            [int(self.probes.answer[i]) for i in rows],
            list(range(len(rows))),
        )


def default_retain(world: Any, requests: list[EditRequest]) -> Any:
    """Without a retain mix from the run: the trained S-O probes of subjects not forgotten."""
    if world is None:
        raise BehemothError("unlearning: call prepare(model, world) before apply()")
    probes = next(p for p in world.probes.values() if p.kind == "S-O" and p.trained)
    subjects = np.array(sorted({r.subject for r in requests}), dtype=np.int64)
    keep = np.flatnonzero(~np.isin(probes.subject, subjects))
    if len(keep) == 0:
        raise BehemothError("unlearning: no fact is left to retain; pass a retain mix")
    return probes.subset(keep)


class UnlearningEditor(Editor):
    """Base of the unlearning methods: subclasses set ``name``, ``Config``, ``compute_loss``."""

    Config: ClassVar[type[EditorConfig]] = UnlearnConfig
    config: UnlearnConfig
    #: whether compute_loss reads the frozen reference model (NPO, KL, RMU)
    needs_reference: bool = False
    #: an unlearning method removes ``target_old``; it does not install ``target_new``
    unlearns: bool = True

    # -- the hook ------------------------------------------------------------------------------
    def compute_loss(
        self,
        model: torch.nn.Module,
        forget: PromptBatch,
        retain: PromptBatch,
        reference: torch.nn.Module | None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def forget_targets(self, requests: list[EditRequest]) -> list[int]:
        """Targets of the forget batch: the true answers (methods that teach a replacement
        answer override this)."""
        return [r.target_old for r in requests]

    def setup(self, model: torch.nn.Module, requests: list[EditRequest]) -> None:  # noqa: B027
        """Per-run state before the loop (e.g. RMU's random direction)."""

    # -- shared machinery --------------------------------------------------------------------
    def tuned_parameters(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        cfg = self.config
        if cfg.part == "all":
            return dict(model.named_parameters())
        paths = self.paths(model)
        n = paths.n_layers(model)
        layers = (
            range(n)
            if cfg.layers is None
            else sorted({layer_index(i, n, "layers") for i in cfg.layers})
        )
        out: dict[str, torch.nn.Parameter] = {}
        for layer in layers:
            for part in ("mlp_in", "mlp_out"):
                for mod_name in paths.at(part, layer):
                    for pname, p in get_module(model, mod_name).named_parameters():
                        out[f"{mod_name}.{pname}"] = p
        return out

    def _edit(self, model: torch.nn.Module, requests: list[EditRequest]) -> EditOutcome:
        cfg = self.config
        retain_probes = self.retain
        if retain_probes is None or len(retain_probes) == 0:
            retain_probes = default_retain(self.world, requests)
        dev = next(model.parameters()).device
        reference = None
        if self.needs_reference:
            reference = copy.deepcopy(model).eval()
            for p in reference.parameters():
                p.requires_grad_(False)
        true_batch = build_batch(
            [r.prompt for r in requests],
            [len(r.prompt) - 1 for r in requests],
            [r.target_old for r in requests],
            list(range(len(requests))),
        ).to(dev)
        forget = build_batch(
            [r.prompt for r in requests],
            [len(r.prompt) - 1 for r in requests],
            self.forget_targets(requests),
            list(range(len(requests))),
        ).to(dev)
        retain = RetainSampler(retain_probes, cfg.retain_batch, cfg.seed)
        params = self.tuned_parameters(model)
        flags = {n: p.requires_grad for n, p in model.named_parameters()}
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params.values():
            p.requires_grad_(True)
        self.setup(model, requests)
        opt = torch.optim.Adam(list(params.values()), lr=cfg.lr)
        model.train()
        losses: list[float] = []
        step = 0
        for step in range(cfg.steps + 1):
            if cfg.stop_when_forgotten or step == cfg.steps:
                with torch.no_grad():
                    pred = answer_logprobs(model, true_batch).argmax(-1)
                remaining = int((pred == true_batch.target).sum())
                if (cfg.stop_when_forgotten and remaining == 0) or step == cfg.steps:
                    break
            loss = self.compute_loss(model, forget, retain.next_batch().to(dev), reference)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
        model.eval()
        info = {
            "steps": step,
            "still_known": remaining,
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "tuned_parameters": len(params),
        }
        return EditOutcome(model, info=info)
