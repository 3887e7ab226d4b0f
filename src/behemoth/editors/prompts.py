"""Edit prompts as tensors: context prefixes, the edit token position, and KL prompts.

ROME and MEMIT read the key and optimize the value over the edit prompt preceded by several
short random contexts (ROME, Sec. 3.1: "we average over a small set of texts x_j + s"), so the
edit holds whatever comes before. The original code generates these contexts with the model
itself; here they are drawn from the world's own corpus (documents of the training stream,
truncated from the left), so they are exactly the kind of text the model was trained on.

Rows are right-padded: a causal model never attends to the padding after a row's last token,
so no attention mask or position shift is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from behemoth.scenarios.request import EditRequest
from behemoth.world.rng import derive_rng
from behemoth.world.vocab import EOT, PAD
from behemoth.world.world import World

Token = Literal["subject_last", "prompt_last"]


@dataclass
class PromptBatch:
    """Right-padded prompts with, per row, the edit position, the answer position and target."""

    ids: torch.Tensor  # [n, T] int64
    edit_pos: torch.Tensor  # [n] where the key is read / the value is added
    answer_pos: torch.Tensor  # [n] last prompt token: its logits predict the target
    target: torch.Tensor  # [n] target token id (-1 when none)
    request: torch.Tensor  # [n] index of the request each row belongs to

    def to(self, device: torch.device) -> PromptBatch:
        return PromptBatch(
            *(
                t.to(device)
                for t in (self.ids, self.edit_pos, self.answer_pos, self.target, self.request)
            )
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def context_prefixes(world: World, n: int, lengths: Sequence[int], seed: int) -> list[list[int]]:
    """``n`` prefixes: the last ``lengths[i % len]`` tokens of random documents of the corpus,
    each ending with its end-of-text token (so a prompt can follow as the next document)."""
    if n == 0:
        return []
    rng = derive_rng(seed, "editor-context-prefixes")
    seq = world.sampler(256, 8).next_batch().reshape(-1)  # the start of the training stream
    ends = np.flatnonzero(seq == EOT)
    out = []
    for i in range(n):
        L = int(lengths[i % len(lengths)])
        ok = ends[ends >= L]
        end = int(ok[int(rng.integers(len(ok)))])
        out.append([int(t) for t in seq[end - L + 1 : end + 1]])
    return out


def edit_position(req: EditRequest, token: Token, offset: int = 0) -> int:
    """Where ROME/MEMIT act in ``req.prompt``: the subject's last token or the prompt's last."""
    pos = req.subject_last if token == "subject_last" else len(req.prompt) - 1
    return pos + offset


def _join(prefix: list[int], prompt: tuple[int, ...]) -> tuple[list[int], int]:
    """prefix + prompt, dropping the prompt's leading EOT when the prefix already ends with one."""
    if prefix and prompt and prefix[-1] == EOT and prompt[0] == EOT:
        return prefix + list(prompt[1:]), len(prefix) - 1
    return prefix + list(prompt), len(prefix)


def build_batch(
    prompts: Sequence[tuple[int, ...]],
    edit_pos: Sequence[int],
    targets: Sequence[int],
    requests: Sequence[int],
    prefixes: Sequence[list[int]] = (),
) -> PromptBatch:
    """Every prompt alone and after every prefix; positions shifted accordingly."""
    rows: list[list[int]] = []
    pos, ans, tgt, req = [], [], [], []
    for p, e, t, r in zip(prompts, edit_pos, targets, requests):
        for prefix in [[], *prefixes]:
            ids, shift = _join(list(prefix), p)
            rows.append(ids)
            pos.append(e + shift)
            ans.append(len(ids) - 1)
            tgt.append(t)
            req.append(r)
    T = max(len(row) for row in rows)
    mat = torch.full((len(rows), T), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        mat[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return PromptBatch(
        mat, torch.tensor(pos), torch.tensor(ans), torch.tensor(tgt), torch.tensor(req)
    )


def rewrite_batch(
    requests: Sequence[EditRequest], token: Token, prefixes: Sequence[list[int]]
) -> PromptBatch:
    """The edit prompts (plain and prefixed) with target ``target_new``."""
    return build_batch(
        [r.prompt for r in requests],
        [edit_position(r, token) for r in requests],
        [r.target_new for r in requests],
        list(range(len(requests))),
        prefixes,
    )


def kl_batch(
    requests: Sequence[EditRequest], token: Token, world: World, mode: str
) -> PromptBatch | None:
    """Prompts whose next-token distribution the edit should keep (ROME's "{subject} is a").

    ``other_relations``: the same sentence with each other relation of the world (the subject's
    other facts, which the edit must not move); ``subject``: the prompt cut after the subject.
    """
    prompts, pos, reqs = [], [], []
    for i, r in enumerate(requests):
        if mode == "other_relations" and r.relation >= 0:
            rel_tok = int(world.vocab.relation(r.relation))
            if rel_tok not in r.prompt:
                continue
            for other in range(world.config.relations):
                if other == r.relation:
                    continue
                tok = int(world.vocab.relation(other))
                prompts.append(tuple(tok if t == rel_tok else t for t in r.prompt))
                pos.append(edit_position(r, token))
                reqs.append(i)
        elif mode == "subject":
            prompts.append(tuple(r.prompt[: r.subject_span[1]]))
            pos.append(r.subject_last)
            reqs.append(i)
    if not prompts:
        return None
    return build_batch(prompts, pos, [-1] * len(prompts), reqs)
