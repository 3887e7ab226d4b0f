"""The gradient loop shared by fine-tuning and LoRA: edit prompts plus a retain mix.

Each step minimizes the NLL of every request's new target after its prompt, plus
``retain_weight`` times the language-modelling loss on a batch of the world's training corpus
(the "retain mix"). Without it, fine-tuning on a handful of edits destroys the other facts
(docs/measurements.md: 99% -> 7-14%); with it, the baseline is meaningful. Training stops once
every edit's NLL is below ``stop_nll``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pydantic import Field

from behemoth.editors.base import EditorConfig
from behemoth.editors.prompts import rewrite_batch
from behemoth.scenarios.request import EditRequest
from behemoth.world.rng import derive_rng


class TuneConfig(EditorConfig):
    """Settings of gradient-based editors."""

    steps: int = Field(50, ge=1, description="Most optimizer steps.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    retain_batch: int = Field(32, ge=0, description="Corpus sequences mixed into each step (0 = none).")
    retain_seq_len: int = Field(32, ge=2, description="Their length in tokens.")
    retain_weight: float = Field(1.0, ge=0, description="Weight of the retain loss.")
    stop_nll: float = Field(0.05, ge=0, description="Stop once every edit's NLL is below this.")


def _retain_sampler(world: Any, cfg: TuneConfig) -> Any:
    """A corpus stream starting at a seeded position (so every edit replays different text)."""
    sampler = world.sampler(cfg.retain_seq_len, cfg.retain_batch)
    if hasattr(sampler, "position") and hasattr(sampler, "load_state_dict"):
        start = int(derive_rng(cfg.seed, "retain-position").integers(0, 1 << 20))
        sampler.load_state_dict({"position": start, "carry": [], "tokens_served": 0})
    return sampler


def tune(model: torch.nn.Module, params: list[torch.nn.Parameter], requests: list[EditRequest], world: Any,
         cfg: TuneConfig, after_step: Callable[[], None] | None = None) -> dict[str, Any]:
    """Train ``params`` of ``model`` on the edits (+ retain mix); returns steps and final NLLs."""
    dev = next(model.parameters()).device
    batch = rewrite_batch(requests, "prompt_last", []).to(dev)
    rows = torch.arange(len(batch), device=dev)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sampler = _retain_sampler(world, cfg) if cfg.retain_batch > 0 and cfg.retain_weight > 0 else None
    model.train()
    nll = torch.full((len(requests),), float("inf"))
    step = 0
    for step in range(cfg.steps + 1):
        logits = model(input_ids=batch.ids).logits  # [n, T, V]
        logp = torch.log_softmax(logits[rows, batch.answer_pos].float(), dim=-1)
        nll = -logp[rows, batch.target]  # [n]
        if bool((nll.detach() < cfg.stop_nll).all()) or step == cfg.steps:
            break
        loss = nll.mean()
        if sampler is not None:
            ids = torch.from_numpy(sampler.next_batch()).to(dev)
            loss = loss + cfg.retain_weight * model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if after_step is not None:
            after_step()
    model.eval()
    return {"steps": step, "nll": [float(x) for x in nll.detach().cpu()]}
