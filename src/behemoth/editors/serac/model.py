"""A SERAC-edited model: the untouched base model, an edit memory, and routing between them.

Mitchell et al. 2022, Sec. 3.1, Eq. 1: for an input x, the scope classifier scores x against
every stored edit; if the best score exceeds the threshold (0.5), the counterfactual model
answers given (that edit, x); otherwise the base model answers, untouched. ``SeracModel``
answers like any causal LM: ``forward(input_ids)`` returns the base model's output object with
the logits of each routed row's last real token replaced by the counterfactual model's (over the
world's vocabulary; tokens beyond it get ``-1e9``). Routing is per sequence, as in the paper: a
query is a whole prompt. An empty memory routes nothing: the base output is returned as is.

Editing (:meth:`SeracModel.edit`) returns a NEW wrapper whose memory is the old one plus the
requests (the embedding variant caches each edit's embedding once); nothing is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from behemoth.editors.serac.artifact import SeracNets
from behemoth.editors.serac.pairs import cf_sequence, edit_sequence, pad_batch
from behemoth.editors.wrapper import EditWrapper
from behemoth.errors import BehemothError
from behemoth.scenarios.request import EditRequest

MASKED = -1e9  # logit of tokens outside the world's vocabulary on routed rows


@dataclass(frozen=True)
class EditMemory:
    """The edits a SERAC model remembers: each edit's prompt and new answer, in edit order."""

    prompts: tuple[tuple[int, ...], ...] = ()
    targets: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.targets)

    def add(self, requests: Sequence[EditRequest]) -> EditMemory:
        return EditMemory(
            (*self.prompts, *(tuple(int(t) for t in q.prompt) for q in requests)),
            (*self.targets, *(int(q.target_new) for q in requests)),
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """``prompts`` [M, T] (-1 = padding) and ``targets`` [M], int64."""
        T = max((len(p) for p in self.prompts), default=1)
        ids = torch.full((len(self), T), -1, dtype=torch.long)
        for i, p in enumerate(self.prompts):
            ids[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        return {"prompts": ids, "targets": torch.tensor(self.targets, dtype=torch.long)}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> EditMemory:
        ids, targets = t["prompts"], t["targets"]
        if ids.dim() != 2 or targets.dim() != 1 or len(ids) != len(targets):
            raise BehemothError("SERAC: the memory's prompts and targets do not match")
        prompts = tuple(tuple(int(x) for x in row if x >= 0) for row in ids.tolist())
        return cls(prompts, tuple(int(x) for x in targets.tolist()))


class SeracModel(EditWrapper):
    """``base`` (never modified) + trained, frozen networks + a memory of edits.

    The memory (named tensors, saved with safetensors) holds the networks (``nets.*``), the
    routing ``threshold``, the edits (``prompts`` [M, T] padded with -1, ``targets`` [M]) and,
    for the embedding classifier, each edit's cached ``embeddings`` [M, E].
    """

    editor: ClassVar[str] = "serac"
    chunk = 4096  # sequences per classifier / counterfactual pass

    def __init__(self, base: torch.nn.Module, memory: dict[str, torch.Tensor]) -> None:
        super().__init__(base, memory)
        self.nets = SeracNets.from_memory(self.memory)
        self.classifier = self.nets.classifier  # registered, so .parameters()/.to() see them
        self.counterfactual = self.nets.counterfactual
        self.threshold = float(self.memory["threshold"])
        if not 0.0 < self.threshold < 1.0:
            raise BehemothError(f"SERAC: threshold {self.threshold} must lie in (0, 1)")
        self.edits = EditMemory.from_tensors(self.memory)
        emb = self.memory.get("embeddings")
        if emb is None or len(emb) != len(self.edits):
            emb = self._embed_memory(self.edits.prompts)
        self._emb = emb
        self.training = base.training  # mirror the base; never flip its mode here

    @staticmethod
    def empty_memory(nets: SeracNets, threshold: float = 0.5) -> dict[str, torch.Tensor]:
        return {
            **nets.to_memory(),
            **EditMemory().tensors(),
            "threshold": torch.tensor(float(threshold)),
        }

    @classmethod
    def empty(cls, base: torch.nn.Module, nets: SeracNets, threshold: float = 0.5) -> SeracModel:
        return cls(base, cls.empty_memory(nets, threshold))

    def is_empty(self) -> bool:
        return len(self.edits) == 0

    @property
    def memory_bytes(self) -> int:
        """Bytes of the edit memory: prompt and answer token ids (int64) + cached embeddings
        (the networks, a fixed cost, are not counted)."""
        ids = sum(len(p) + 1 for p in self.edits.prompts) * 8
        return ids + (self._emb.numel() * self._emb.element_size() if self._emb is not None else 0)

    def _device(self) -> torch.device:
        return next(self.base.parameters()).device

    # -- the classifier ----------------------------------------------------------------------------
    @torch.no_grad()
    def _embed_memory(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor | None:
        if self.nets.classifier.variant != "embedding" or not prompts:
            return None
        return self._embed([np.asarray(p, dtype=np.int64) for p in prompts])

    def _embed(self, seqs: list[np.ndarray]) -> torch.Tensor:
        out = []
        for a in range(0, len(seqs), self.chunk):
            ids, pad, _ = pad_batch(seqs[a : a + self.chunk])
            dev = self._device()
            out.append(self.nets.classifier.embed(ids.to(dev), pad.to(dev)))
        return torch.cat(out)

    @torch.no_grad()
    def scores(self, queries: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """(best score [B] in (0, 1], index [B] of the best edit) of each query over the memory."""
        cls = self.nets.classifier
        if cls.variant == "embedding":
            assert self._emb is not None
            logp = cls.logsim_matrix(self._embed(queries), self._emb)  # [B, M]
        else:  # cross-encoder: one pass per (query, edit) pair
            M = len(self.edits)
            edits = [np.asarray(p, dtype=np.int64) for p in self.edits.prompts]
            pairs = [cf_sequence(e, self.nets.sep, q) for q in queries for e in edits]
            parts = []
            for a in range(0, len(pairs), self.chunk):
                ids, pad, _ = pad_batch(pairs[a : a + self.chunk])
                dev = self._device()
                parts.append(
                    torch.nn.functional.logsigmoid(cls.cross_logit(ids.to(dev), pad.to(dev)))
                )
            logp = torch.cat(parts).view(len(queries), M)
        best, idx = logp.max(dim=1)
        return best.exp(), idx

    # -- answering -------------------------------------------------------------------------------
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> Any:
        out = self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        if self.is_empty():
            return out  # the base model's own answer, exactly
        return self._route(input_ids, attention_mask, out)

    def respond(self, input_ids: torch.Tensor, base_output: Any) -> Any:
        return self._route(input_ids, None, base_output)

    def _route(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, out: Any) -> Any:
        ids = input_ids.detach().cpu().numpy()
        mask = (
            None if attention_mask is None else attention_mask.detach().cpu().numpy().astype(bool)
        )
        queries = [ids[i] if mask is None else ids[i][mask[i]] for i in range(len(ids))]
        if any(int(q.max()) >= self.nets.vocab for q in queries):
            raise BehemothError(
                f"SERAC: an input token is outside the world's vocabulary ({self.nets.vocab} tokens)"
            )
        best, idx = self.scores(queries)
        routed = torch.nonzero(best > self.threshold).flatten().tolist()
        if not routed:
            return out
        mem = self.edits
        seqs = [
            cf_sequence(
                edit_sequence(np.asarray(mem.prompts[int(idx[i])]), mem.targets[int(idx[i])]),
                self.nets.sep,
                queries[i],
            )
            for i in routed
        ]
        cf_ids, cf_pad, cf_last = pad_batch(seqs)
        dev = self._device()
        with torch.no_grad():
            cf_logits = self.nets.counterfactual(cf_ids.to(dev), cf_pad.to(dev), cf_last.to(dev))
        logits = out.logits.clone()
        T = logits.shape[1]
        rows = torch.tensor(routed, device=logits.device)
        if mask is None or T == 1:
            pos = torch.full_like(rows, T - 1)
            if mask is not None and not bool(np.all(mask[routed, -1])):
                raise BehemothError(
                    "SERAC: with logits_to_keep=1 the batch must be left-padded (answer last)"
                )
        else:
            pos = torch.tensor(
                [int(np.flatnonzero(mask[i])[-1]) for i in routed], device=logits.device
            )
        new = torch.full(
            (len(routed), logits.shape[-1]), MASKED, dtype=logits.dtype, device=logits.device
        )
        V = min(self.nets.vocab, logits.shape[-1])
        new[:, :V] = cf_logits[:, :V].to(logits.dtype)
        logits[rows, pos] = new
        out.logits = logits
        return out

    # -- editing ---------------------------------------------------------------------------------
    def edit(self, requests: Sequence[EditRequest]) -> SeracModel:
        """A new wrapper whose memory also holds ``requests`` (this one is left as it was)."""
        edits = self.edits.add(requests)
        add = self._embed_memory([q.prompt for q in requests])
        memory = {**self.memory, **edits.tensors()}
        if add is not None:
            memory["embeddings"] = add if self._emb is None else torch.cat([self._emb, add])
        return SeracModel(self.base, memory)
