"""A GRACE-edited model: the untouched base model plus a codebook around one of its layers.

Hartvigsen et al. 2023, Sec. 3. ``GraceModel`` answers like any causal LM (``forward(input_ids)``
returns the base model's output object): while it runs, a scoped forward hook on the wrapped
linear module reads the module's input at each row's last token (the query), finds the nearest
key and, within that key's radius, replaces the module's output by the key's value: with
``replacement: replace_prompt`` (the authors' default) at every position *before* the key token,
as their ``layer_out[:, :token_to_edit] = value`` (the key token's own output is kept; later
layers read the replaced positions through attention); with ``replace_last`` at the key token
only. The hook is removed when the call returns, even on an error, so
the base model is never left modified; with an empty codebook no hook is installed at all and the
output is the base model's, bit for bit.

Editing (:meth:`GraceModel.edit`) returns a NEW wrapper with a copied codebook; for each request
the codebook rule runs (:meth:`Codebook.update`) and then only the chosen entry's value is trained
(Adam on the next-token NLL of the target), gradients taken with ``torch.autograd.grad`` so the
base model's parameters never receive a ``.grad``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from behemoth.editors.grace.codebook import Codebook, Decision
from behemoth.editors.grace.config import GraceConfig
from behemoth.editors.wrapper import EditWrapper
from behemoth.errors import BehemothError
from behemoth.model.layers import get_module, linear_weight, resolve_paths
from behemoth.scenarios.request import EditRequest


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


def json_tensor(data: dict[str, Any]) -> torch.Tensor:
    """A JSON document as a uint8 tensor, so that settings travel inside a safetensors memory."""
    return torch.tensor(list(json.dumps(data, sort_keys=True).encode()), dtype=torch.uint8)


def tensor_json(t: torch.Tensor) -> dict[str, Any]:
    return dict(json.loads(bytes(t.tolist()).decode()))


class GraceModel(EditWrapper):
    """``base`` (never modified) with a GRACE codebook around one linear module.

    The memory (named tensors, saved with safetensors) is the codebook (``keys``, ``values``,
    ``radii``, ``labels``) and the settings (``config``: GraceConfig as JSON bytes).
    """

    editor: ClassVar[str] = "grace"

    def __init__(self, base: torch.nn.Module, memory: dict[str, torch.Tensor]) -> None:
        super().__init__(base, memory)
        self.config_ = GraceConfig.from_dict(tensor_json(self.memory["config"]))
        self.module_name = resolve_paths(base, self.config_.arch, self.config_.paths).one(
            self.config_.part, self.config_.layer
        )
        w = linear_weight(base, self.module_name)
        self.codebook = Codebook.from_tensors(self.memory)
        if (self.codebook.key_dim, self.codebook.value_dim) != (w.shape[1], w.shape[0]):
            raise BehemothError(
                f"GRACE: the codebook's keys/values ({self.codebook.key_dim}/"
                f"{self.codebook.value_dim}) do not fit {self.module_name} ({w.shape[1]}/{w.shape[0]})"
            )

    @staticmethod
    def empty_memory(base: torch.nn.Module, config: GraceConfig) -> dict[str, torch.Tensor]:
        name = resolve_paths(base, config.arch, config.paths).one(config.part, config.layer)
        w = linear_weight(base, name)
        return {
            **Codebook(w.shape[1], w.shape[0]).tensors(),
            "config": json_tensor(config.to_dict()),
        }

    @classmethod
    def empty(cls, base: torch.nn.Module, config: GraceConfig) -> GraceModel:
        return cls(base, cls.empty_memory(base, config))

    def is_empty(self) -> bool:
        return len(self.codebook) == 0

    def respond(self, input_ids: torch.Tensor, base_output: Any) -> Any:
        """GRACE changes the base model's computation, so it answers by running it again with
        the codebook in place (``forward`` does this directly, without the first pass)."""
        return self.forward(input_ids)

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
        prompt = self.config_.replacement == "replace_prompt"

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
            if prompt:  # positions 0 .. key-1 of each hit row (the authors' replace_prompt)
                vals = out.new_zeros(out.shape[0], out.shape[2]).index_put(
                    (rows[hit],), new.to(out.dtype)
                )
                pos = torch.arange(out.shape[1], device=out.device)
                where = (pos[None, :] < last[:, None]) & hit[:, None]  # [B, T]
                return torch.where(where[..., None], vals[:, None, :], out)
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
        work = GraceModel(self.base, self.memory)  # a copy: this wrapper is left as it was
        gen = torch.Generator().manual_seed(self.config_.seed)
        logs = [work._edit_one(q, gen) for q in requests]
        memory = {**work.codebook.tensors(), "config": self.memory["config"]}
        return GraceModel(self.base, memory), logs

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
