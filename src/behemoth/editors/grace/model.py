"""A GRACE-edited model: the untouched base model plus a codebook around one of its layers.

Hartvigsen et al. 2023, Sec. 3. ``GraceModel`` answers like any causal LM (``forward(input_ids)``
returns the base model's output object): while it runs, a scoped forward hook on the wrapped
linear module reads the module's input at each row's last token (the query), finds the nearest
key and, within that key's radius, replaces the module's output at that token by the key's value
(the authors' ``replace_last``). The hook is removed when the call returns, even on an error, so
the base model is never left modified; with an empty codebook no hook is installed at all and the
output is the base model's, bit for bit.

Editing (:meth:`GraceModel.edit`) returns a NEW wrapper with a copied codebook; for each request
the codebook rule runs (:meth:`Codebook.update`) and then only the chosen entry's value is trained
(Adam on the next-token NLL of the target), gradients taken with ``torch.autograd.grad`` so the
base model's parameters never receive a ``.grad``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from behemoth.editors.grace.codebook import Codebook, Decision
from behemoth.editors.grace.config import GraceConfig
from behemoth.editors.layers import get_module, linear_weight, resolve_paths
from behemoth.errors import BehemothError
from behemoth.io import atomic_dir, read_json, write_json
from behemoth.scenarios.request import EditRequest

FORMAT = "behemoth-grace"
META = "grace.json"
TENSORS = "codebook.safetensors"


def last_positions(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """[B] index of each row's last real token (the last 1 of the mask; left or right padding)."""
    B, T = input_ids.shape
    if attention_mask is None:
        return torch.full((B,), T - 1, dtype=torch.long, device=input_ids.device)
    flipped = attention_mask.flip(1).long().argmax(dim=1)
    return (T - 1 - flipped).to(input_ids.device)


@dataclass
class EditLog:
    """Per edit: the codebook decision and how the value training went."""

    decision: Decision
    steps: int
    loss: float


class GraceModel(torch.nn.Module):
    """``base`` (never modified) with a GRACE codebook around ``module_name``."""

    def __init__(
        self, base: torch.nn.Module, config: GraceConfig, codebook: Codebook | None = None
    ) -> None:
        super().__init__()
        self.base = base
        self.config_ = config
        self.module_name = resolve_paths(base, config.arch, config.paths).one(
            config.part, config.layer
        )
        w = linear_weight(base, self.module_name)
        self.codebook = codebook if codebook is not None else Codebook(w.shape[1], w.shape[0])
        if (self.codebook.key_dim, self.codebook.value_dim) != (w.shape[1], w.shape[0]):
            raise BehemothError(
                f"GRACE: the codebook's keys/values ({self.codebook.key_dim}/"
                f"{self.codebook.value_dim}) do not fit {self.module_name} ({w.shape[1]}/{w.shape[0]})"
            )

    @property
    def config(self) -> Any:  # the base model's config, as a causal LM wrapper exposes it
        return self.base.config

    @property
    def memory_bytes(self) -> int:
        return self.codebook.nbytes

    # -- answering -------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        if len(self.codebook) == 0:
            return self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        last = last_positions(input_ids, attention_mask)
        with self._deferral(last):
            return self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    @contextlib.contextmanager
    def _deferral(
        self, last: torch.Tensor, value: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Hook the wrapped module for one call: replace its output at ``last`` where a key is in
        range. ``value = (row mask, tensor)`` forces ``tensor`` into those rows instead (training).
        Yields a dict that receives the last-token ``query`` and layer ``output``."""
        seen: dict[str, torch.Tensor] = {}
        mod = get_module(self.base, self.module_name)
        book = self.codebook

        def hook(_m: torch.nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
            rows = torch.arange(out.shape[0], device=out.device)
            query = args[0][rows, last]  # [B, dk] the key space: the module's input
            seen["query"], seen["output"] = query.detach(), out[rows, last].detach()
            if value is not None:
                mask, v = value
                hit, new = mask, v.expand(int(mask.sum()), -1)
            else:
                hit, idx = book.lookup(query)
                new = book.values.to(out.device)[idx[hit]]
            if not bool(hit.any()):
                return out
            out = out.clone()
            out[rows[hit], last[hit]] = new.to(out.dtype)
            return out

        handle = mod.register_forward_hook(hook)
        try:
            yield seen
        finally:
            handle.remove()

    # -- editing ---------------------------------------------------------------------------------
    def edit(self, requests: Sequence[EditRequest]) -> tuple[GraceModel, list[EditLog]]:
        """A new wrapper answering ``requests`` (applied one after another, as GRACE does)."""
        new = GraceModel(self.base, self.config_, self.codebook.copy())
        gen = torch.Generator().manual_seed(self.config_.seed)
        logs = [new._edit_one(q, gen) for q in requests]
        return new, logs

    def _edit_one(self, q: EditRequest, gen: torch.Generator) -> EditLog:
        cfg = self.config_
        dev = next(self.base.parameters()).device
        ids = torch.tensor([q.prompt], dtype=torch.long, device=dev)
        last = torch.tensor([ids.shape[1] - 1], device=dev)
        with torch.no_grad(), self._deferral(last) as s:  # records the pre-replacement output
            self.base(input_ids=ids, logits_to_keep=1)
        key, out = s["query"][0], s["output"][0]
        init = out if cfg.value_init == "warm" else torch.rand(out.shape, generator=gen)
        decision = self.codebook.update(key, q.target_new, init, cfg.init_radius)
        v = self.codebook.values[decision.index].clone().to(dev).requires_grad_(True)
        opt = torch.optim.Adam([v], lr=cfg.lr)
        target = torch.tensor([q.target_new], device=dev)
        hit = torch.ones(1, dtype=torch.bool, device=dev)
        steps, loss_v = 0, float("nan")
        for steps in range(1, cfg.steps + 1):  # noqa: B007 - steps is reported
            with self._deferral(last, (hit, v)):
                logits = self.base(input_ids=ids, logits_to_keep=1).logits[:, -1].float()
            loss = torch.nn.functional.cross_entropy(logits, target)
            loss_v = float(loss.detach())
            if loss_v < cfg.stop_loss and int(logits.argmax()) == q.target_new:
                break
            (grad,) = torch.autograd.grad(loss, [v])
            v.grad = grad
            opt.step()
            opt.zero_grad(set_to_none=True)
        self.codebook.values[decision.index] = v.detach().cpu()
        return EditLog(decision, steps, loss_v)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, out: str | Path, force: bool = False) -> Path:
        """Write the codebook (safetensors) and settings (JSON); the base model is not copied."""
        with atomic_dir(out, force, marker=META, what="a GRACE memory") as tmp:
            save_file(
                {k: v.contiguous() for k, v in self.codebook.tensors().items()}, tmp / TENSORS
            )
            write_json(
                tmp / META,
                {
                    "format": FORMAT,
                    "config": self.config_.to_dict(),
                    "module": self.module_name,
                    "entries": len(self.codebook),
                },
            )
        return Path(out)

    @classmethod
    def load(cls, directory: str | Path, base: torch.nn.Module) -> GraceModel:
        """The wrapper saved in ``directory`` around ``base`` (the model it was edited from)."""
        d = Path(directory)
        if not (d / META).is_file():
            raise BehemothError(f"GRACE: {d} holds no {META}; save a GraceModel there first")
        meta = read_json(d / META)
        if meta.get("format") != FORMAT:
            raise BehemothError(f"GRACE: {d / META} is not a GRACE memory file")
        try:
            tensors = load_file(str(d / TENSORS))
            book = Codebook.from_tensors(tensors)
        except (SafetensorError, OSError, ValueError) as e:
            raise BehemothError(
                f"GRACE: {d / TENSORS} is unreadable ({e}); save it again"
            ) from None
        return cls(base, GraceConfig.from_dict(meta["config"]), book)
