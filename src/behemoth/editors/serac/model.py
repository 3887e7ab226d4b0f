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

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from behemoth.editors.serac.artifact import META as NETS_META
from behemoth.editors.serac.artifact import WEIGHTS as NETS_WEIGHTS
from behemoth.editors.serac.artifact import SeracNets
from behemoth.editors.serac.pairs import cf_sequence, edit_sequence, pad_batch
from behemoth.errors import BehemothError
from behemoth.io import atomic_dir, read_json, write_json
from behemoth.scenarios.request import EditRequest

FORMAT = "behemoth-serac-memory"
META = "serac_memory.json"
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
        T = max((len(p) for p in self.prompts), default=0)
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


class SeracModel(torch.nn.Module):
    """``base`` (never modified) + ``nets`` (trained, frozen) + a memory of edit requests."""

    def __init__(
        self,
        base: torch.nn.Module,
        nets: SeracNets,
        threshold: float = 0.5,
        memory: EditMemory | None = None,
        embeddings: torch.Tensor | None = None,
        chunk: int = 4096,
    ) -> None:
        super().__init__()
        if not 0.0 < threshold < 1.0:
            raise BehemothError(f"SERAC: threshold {threshold} must lie in (0, 1)")
        self.base = base
        self.nets = nets.eval()
        self.classifier = nets.classifier  # registered, so .parameters()/.to() see them
        self.counterfactual = nets.counterfactual
        self.threshold = threshold
        self.memory = memory if memory is not None else EditMemory()
        self.chunk = chunk
        self._emb = (
            embeddings if embeddings is not None else self._embed_memory(self.memory.prompts)
        )
        self.training = base.training  # mirror the base; never flip its mode here

    @property
    def config(self) -> Any:  # the base model's config, as a causal LM wrapper exposes it
        return self.base.config

    @property
    def memory_bytes(self) -> int:
        """Bytes of the memory: prompt and answer token ids (int64) + cached embeddings."""
        ids = sum(len(p) + 1 for p in self.memory.prompts) * 8
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
            M = len(self.memory)
            edits = [np.asarray(p, dtype=np.int64) for p in self.memory.prompts]
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
        if len(self.memory) == 0:
            return out
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
        mem = self.memory
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
        add = self._embed_memory([q.prompt for q in requests])
        emb = (
            self._emb
            if add is None
            else (add if self._emb is None else torch.cat([self._emb, add]))
        )
        return SeracModel(
            self.base, self.nets, self.threshold, self.memory.add(requests), emb, self.chunk
        )

    # -- persistence -----------------------------------------------------------------------------
    def save(self, out: str | Path, nets_dir: str | Path, force: bool = False) -> Path:
        """Write the memory (JSON: requests as integers) next to a reference to the networks."""
        nets_dir = Path(nets_dir)
        digest = hashlib.sha256((nets_dir / NETS_WEIGHTS).read_bytes()).hexdigest()
        with atomic_dir(out, force, marker=META, what="a SERAC memory") as tmp:
            write_json(
                tmp / META,
                {
                    "format": FORMAT,
                    "threshold": self.threshold,
                    "nets": str(nets_dir.resolve()),
                    "nets_sha256": digest,
                    "prompts": [list(p) for p in self.memory.prompts],
                    "targets": list(self.memory.targets),
                },
            )
        return Path(out)

    @classmethod
    def load(
        cls, directory: str | Path, base: torch.nn.Module, nets_dir: str | Path | None = None
    ) -> SeracModel:
        """The wrapper saved in ``directory`` around ``base``; networks from where they were saved
        (or ``nets_dir``), checked against the recorded digest."""
        d = Path(directory)
        if not (d / META).is_file():
            raise BehemothError(f"SERAC: {d} holds no {META}; save a SeracModel there first")
        meta = read_json(d / META)
        if meta.get("format") != FORMAT:
            raise BehemothError(f"SERAC: {d / META} is not a SERAC memory file")
        nd = Path(nets_dir) if nets_dir is not None else Path(meta["nets"])
        if not (nd / NETS_META).is_file():
            raise BehemothError(f"SERAC: networks {nd} not found; pass nets_dir")
        if hashlib.sha256((nd / NETS_WEIGHTS).read_bytes()).hexdigest() != meta["nets_sha256"]:
            raise BehemothError(
                f"SERAC: networks in {nd} are not the ones this memory was saved with"
            )
        try:
            prompts = tuple(tuple(int(t) for t in p) for p in meta["prompts"])
            memory = EditMemory(prompts, tuple(int(t) for t in meta["targets"]))
            if len(memory.prompts) != len(memory.targets):
                raise TypeError("prompts and targets differ in number")
        except (TypeError, KeyError, ValueError) as e:
            raise BehemothError(f"SERAC: {d / META} has a malformed memory ({e})") from None
        return cls(base, SeracNets.load(nd), float(meta["threshold"]), memory)
