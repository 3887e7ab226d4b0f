"""The gradient trainer shared by fine-tuning and LoRA: edit prompts plus a retain mix.

Each step minimizes the NLL of every request's new target after its prompt, plus
``retain_weight`` times a loss on the "retain mix": ``facts`` replays ``retain_batch`` random
known facts of the world (their probe prompts and true answers, never the edited edges), as
the prototype did; ``corpus`` uses the language-modelling loss on corpus sequences instead
(weaker: most corpus tokens are grammar, not facts). Within a scenario both come from its
retain mix, which no test set uses: ``facts`` replays its facts, ``corpus`` packs its
statements as corpus documents; the whole world (``facts``) or the corpus stream (``corpus``)
is used only without a retain mix. Without a retain mix, fine-tuning on a
handful of edits destroys the other facts (docs/measurements.md: 99% -> 7-14%). Measured on the
``tiny`` model (3 edits, LoRA r4 on every MLP output): retain weight 1 kept 78% of the other
subjects' facts, 3 (the default) 98%, both with every edit taking. Training stops once every
edit's NLL is below ``stop_nll``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from behemoth.editors.base import EditorConfig
from behemoth.editors.prompts import (
    PromptBatch,
    build_batch,
    fact_documents,
    note_facts,
    note_inputs,
    rewrite_batch,
)
from behemoth.scenarios.request import EditRequest
from behemoth.world.probes import ProbeSet
from behemoth.world.rng import derive_rng
from behemoth.world.sampler import ShardSampler, StreamSampler
from behemoth.world.world import World


class TuneConfig(EditorConfig):
    """Settings of gradient-based editors."""

    steps: int = Field(50, ge=1, description="Most optimizer steps.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    retain: Literal["facts", "corpus"] = Field(
        "facts", description="Retain mix: known facts or corpus text."
    )
    retain_batch: int = Field(
        200, ge=0, description="Facts (or corpus sequences) per step (0 = none)."
    )
    retain_seq_len: int = Field(32, ge=2, description="Length of corpus sequences (retain=corpus).")
    retain_weight: float = Field(3.0, ge=0, description="Weight of the retain loss.")
    stop_nll: float = Field(0.05, ge=0, description="Stop once every edit's NLL is below this.")


class _DocumentReplay:
    """Corpus-format documents of a retain mix, cut into [batch, seq_len] windows in turn."""

    def __init__(self, probes: ProbeSet, batch: int, seq_len: int, seed: int) -> None:
        self.probes = probes
        self.seq, self.owner = fact_documents(probes, derive_rng(seed, "retain-documents"))
        self.shape = (batch, seq_len)
        self.pos = 0

    def next_batch(self) -> np.ndarray:
        n = self.shape[0] * self.shape[1]
        idx = (self.pos + np.arange(n)) % len(self.seq)
        self.pos = int((self.pos + n) % len(self.seq))
        out = self.seq[idx].reshape(self.shape)
        note_facts(self.probes, self.owner[idx].tolist())
        return out


def _retain_sampler(
    world: World, cfg: TuneConfig, retain: ProbeSet | None = None
) -> _DocumentReplay | StreamSampler | ShardSampler:
    """The retain mix's statements as documents when there is one; else a corpus stream
    starting at a seeded position (so every edit replays different text)."""
    if retain is not None and len(retain) > 0:
        return _DocumentReplay(retain, cfg.retain_batch, cfg.retain_seq_len, cfg.seed)
    sampler = world.sampler(cfg.retain_seq_len, cfg.retain_batch)
    if isinstance(sampler, StreamSampler):
        start = int(derive_rng(cfg.seed, "retain-position").integers(0, 1 << 20))
        sampler.load_state_dict({"position": start, "carry": [], "tokens_served": 0})
    return sampler


class _FactReplay:
    """Random known facts of the world (the first trained S-O probe set), edited edges excluded."""

    def __init__(
        self,
        world: World,
        requests: list[EditRequest],
        n: int,
        seed: int,
        probes: ProbeSet | None = None,
    ) -> None:
        if probes is not None and len(probes) > 0:
            self.probes = probes  # a scenario's retain mix, disjoint from its test sets
        else:
            sets = [p for p in world.probes.values() if p.kind == "S-O" and p.trained]
            self.probes = sets[0]
        edited = {(r.subject, r.relation) for r in requests}
        keep = [
            i
            for i in range(len(self.probes))
            if (int(self.probes.subject[i]), int(self.probes.relation[i])) not in edited
        ]
        self.rows = np.asarray(keep, dtype=np.int64)
        self.n = min(n, len(self.rows))
        self.rng = derive_rng(seed, "retain-facts")

    def next_batch(self) -> PromptBatch:
        rows = self.rng.choice(self.rows, size=self.n, replace=False)
        prompts = [tuple(int(t) for t in self.probes.prompt(int(i))) for i in rows]
        note_inputs("replay", prompts)
        return build_batch(
            prompts,
            [len(p) - 1 for p in prompts],
            [int(self.probes.answer[i]) for i in rows],
            list(range(len(rows))),
        )


def answer_nll(model: torch.nn.Module, batch: PromptBatch) -> torch.Tensor:
    """NLL of each row's target at its last prompt token -> [rows]."""
    logits = model(input_ids=batch.ids).logits  # [n, T, V]
    rows = torch.arange(len(batch), device=logits.device)
    logp = torch.log_softmax(logits[rows, batch.answer_pos].float(), dim=-1)
    return -logp[rows, batch.target]


@dataclass
class TrainBatch:
    """One step's data, the part to change and the part to keep given separately.

    ``edit``: the edit (for unlearning: forget) prompts and their targets; ``edit_nll``: each
    row's NLL of its target, computed by this step's forward pass (with gradients), which also
    decides when to stop. ``retain_facts`` / ``retain_ids``: the retain mix as fact prompts or
    as corpus sequences (None when the config has no retain mix of that kind).
    """

    edit: PromptBatch
    edit_nll: torch.Tensor
    retain_facts: PromptBatch | None = None
    retain_ids: torch.Tensor | None = None


class GradientTrainer:
    """Adam on chosen parameters until every edit's NLL is below ``stop_nll``.

    Methods differ only in :meth:`compute_loss` (and the data they are given): fine-tuning and
    LoRA minimize the edits' NLL plus ``retain_weight`` times the retain loss; gradient ascent,
    GradDiff, NPO (which sets ``uses_reference`` to get a frozen copy of the model as it was
    before training) or RMU override it.
    """

    uses_reference: ClassVar[bool] = False

    def __init__(
        self,
        cfg: TuneConfig,
        world: World,
        retain: ProbeSet | None = None,
        after_step: Callable[[], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.world = world
        self.retain = retain
        self.after_step = after_step

    def compute_loss(
        self,
        model: torch.nn.Module,
        batch: TrainBatch,
        reference: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """The loss to minimize: mean edit NLL + ``retain_weight`` x retain loss."""
        cfg = self.cfg
        loss = batch.edit_nll.mean()
        if batch.retain_ids is not None:
            ids = batch.retain_ids
            loss = loss + cfg.retain_weight * model(input_ids=ids, labels=ids).loss
        if batch.retain_facts is not None:
            loss = loss + cfg.retain_weight * answer_nll(model, batch.retain_facts).mean()
        return loss

    def edit_batch(self, requests: list[EditRequest]) -> PromptBatch:
        """The prompts and targets the loss sees (default: each request's new answer)."""
        return rewrite_batch(requests, "prompt_last", [])

    def finished(self, model: torch.nn.Module, edit: PromptBatch, nll: torch.Tensor) -> bool:
        """Whether to stop before this step (default: every edit's NLL below ``stop_nll``)."""
        return bool((nll.detach() < self.cfg.stop_nll).all())

    def train(
        self,
        model: torch.nn.Module,
        params: list[torch.nn.Parameter],
        requests: list[EditRequest],
    ) -> dict[str, Any]:
        """Train ``params`` of ``model`` on the edits (+ retain mix); returns steps and NLLs."""
        cfg = self.cfg
        dev = next(model.parameters()).device
        edit = self.edit_batch(requests).to(dev)
        reference = _frozen_copy(model) if self.uses_reference else None
        opt = torch.optim.Adam(params, lr=cfg.lr)
        use_retain = cfg.retain_batch > 0 and cfg.retain_weight > 0
        corpus = (
            _retain_sampler(self.world, cfg, self.retain)
            if use_retain and cfg.retain == "corpus"
            else None
        )
        facts = (
            _FactReplay(self.world, requests, cfg.retain_batch, cfg.seed, self.retain)
            if use_retain and cfg.retain == "facts"
            else None
        )
        model.train()
        nll = torch.full((len(requests),), float("inf"))
        step = 0
        for step in range(cfg.steps + 1):
            nll = answer_nll(model, edit)  # [n]
            if self.finished(model, edit, nll) or step == cfg.steps:
                break
            batch = TrainBatch(
                edit,
                nll,
                retain_facts=facts.next_batch().to(dev) if facts is not None else None,
                retain_ids=(
                    torch.from_numpy(corpus.next_batch()).to(dev) if corpus is not None else None
                ),
            )
            loss = self.compute_loss(model, batch, reference)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if self.after_step is not None:
                self.after_step()
        model.eval()
        return {"steps": step, "nll": [float(x) for x in nll.detach().cpu()]}


@contextlib.contextmanager
def trainable(model: torch.nn.Module, params: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Within the block only ``params`` take gradients: every parameter of ``model`` is frozen,
    then ``params`` unfrozen. Each parameter's ``requires_grad`` comes back on exit, also when
    the block raises, so the model an editor returns has the flags it was given."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref
