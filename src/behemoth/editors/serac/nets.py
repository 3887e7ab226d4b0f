"""SERAC's two trained parts, as small transformers trained from scratch on the world.

Mitchell et al. 2022, "Memory-Based Model Editing at Scale" (ICML), Sec. 3. Nothing can be
downloaded here, so instead of DistilBERT (classifier) and a pretrained counterfactual model,
both are small transformers over the world's tokens.

Their token embeddings are FIXED random vectors (a seeded Gaussian table, saved with the
weights, never trained). Scope is a question of identity (is this the same subject and relation
as the edit?) and the counterfactual answer is a copy (the edit's new object), so what the
networks learn is to compare and to copy vectors, not what any particular token means. With
fixed embeddings, a subject the networks never saw in training is just another draw from the
table's distribution; training additionally swaps subjects for spare random rows
(``scratch`` rows after the vocabulary) so that the comparison cannot lean on the few hundred
subjects of its training facts. Row ``vocab`` is the separator between edit and query.

- :class:`Encoder`: bidirectional transformer; shared by both classifier variants (the embedding
  variant mean-pools it, the cross variant mean-pools each side of the pair apart).
- :class:`ScopeClassifier`: ``embedding`` variant (SERAC's distance model: score
  ``exp(-scale * ||e(edit) - e(query)||^2)``, the authors' ``embedding_logsim_matrix`` with squared
  Euclidean distance) or ``cross`` variant (one encoder over ``edit [SEP] query``, as the paper's
  cross-encoder classifier, Sec. 3; read out by :class:`PairHead`, which compares the edit
  side with the query side).
- :class:`Counterfactual`: a causal transformer over ``new answer, edit prompt, [SEP], query``
  whose next-token logits at the end are the edited answer; its output layer is tied to the
  fixed table so that copying works for any token.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Variant = Literal["embedding", "cross"]
CrossHead = Literal["pair", "mean"]


def random_table(rows: int, width: int, seed: int) -> torch.Tensor:
    """The fixed token table: N(0, 1) entries from a seeded generator, [rows, width]."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, width, generator=g)


class Encoder(nn.Module):
    """Fixed token table + learned positions -> ``layers`` transformer layers -> per-token states."""

    def __init__(
        self, rows: int, width: int, layers: int, heads: int, max_len: int, seed: int, causal: bool
    ) -> None:
        super().__init__()
        self.table: torch.Tensor
        self.register_buffer("table", random_table(rows, width, seed))
        self.pos = nn.Embedding(max_len, width)
        # Positions on the scale of the token table (N(0, 1) entries, norm ~sqrt(width)): at the
        # usual std 0.02 they are drowned by the token vectors, and the counterfactual model must
        # first grow them ~50x before it can find the answer at position 0 (tiny world, 150
        # steps: counterfactual accuracy 0.42 with std 0.02, 0.88 with std 1).
        nn.init.normal_(self.pos.weight, std=1.0)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.causal = causal
        self.max_len = max_len

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """ids [B, T] (rows of the table), pad [B, T] True where padding -> states [B, T, W]."""
        T = ids.shape[1]
        if self.max_len < T:
            raise ValueError(f"sequence of {T} tokens exceeds the networks' max_len {self.max_len}")
        x = self.table[ids] + self.pos.weight[:T]  # [B, T, W]
        mask = None
        if self.causal:  # True = may not attend (a later position), same type as ``pad``
            mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1)
        h = self.layers(x, mask=mask, src_key_padding_mask=pad, is_causal=self.causal)
        return self.norm(h)


def mean_pool(h: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """Mean of the states at the positions where ``pad`` is False: [B, T, W] -> [B, W]."""
    keep = (~pad).unsqueeze(-1).to(h.dtype)  # [B, T, 1]
    return (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)


def halves(ids: torch.Tensor, pad: torch.Tensor, sep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks [B, T] (True = NOT in the half, like ``pad``) of the edit side (before the first
    ``sep``) and of the query side (after it) of ``edit [SEP] query`` rows."""
    after = (ids == sep).long().cumsum(1) > 0  # the separator and everything after it
    edit_out = after | pad
    query_out = ~after | (ids == sep) | pad
    return edit_out, query_out


class PairHead(nn.Module):
    """The cross-encoder's comparison head: ``[u, v, |u - v|, u * v] -> MLP -> logit``.

    ``u`` and ``v`` are the mean states of the edit side and of the query side of the jointly
    encoded ``edit [SEP] query`` (so each side has already attended to the other). Features
    ``(u, v, |u - v|, u * v)`` are InferSent's pair features (Conneau et al. 2017, Sec. 3.2;
    Sentence-BERT's classification objective, Reimers & Gurevych 2019, Eq. 1, uses
    ``(u, v, |u - v|)``): ``|u - v|`` is zero in every coordinate where the two sides agree, so a
    query that shares the subject but not the relation (or the reverse), the hard negatives of
    SERAC's classifier (Mitchell et al. 2022, Sec. 3.2), still differs in the coordinates of
    the other. One mean over the whole pair (the head this replaces) has no such coordinates:
    it sums both sides, and whether two arbitrary vectors (a subject's fixed random row on each
    side) are equal is not a linear function of their sum. Measured with that head (held-out
    subjects): tiny world, 400 steps, 0.996 of same-relation / other-subject negatives passed
    (same subject / other relation: 0.000), precision 0.619; demo split, 1,000 steps, precision
    0.636. With this head: 0.016 and 0.988 (tiny), 0.000 and 1.000 (demo).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4 * width, width), nn.GELU(), nn.Linear(width, 1))

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """[B, W] edit side, [B, W] query side -> [B] logits."""
        return self.mlp(torch.cat([u, v, (u - v).abs(), u * v], dim=-1)).squeeze(-1)


class ScopeClassifier(nn.Module):
    """Scores whether a query falls in the scope of an edit: log-probabilities in (-inf, 0]."""

    def __init__(
        self,
        variant: Variant,
        rows: int,
        width: int,
        layers: int,
        heads: int,
        max_len: int,
        seed: int,
        embed_dim: int,
        sep: int,
        cross_head: CrossHead = "pair",
    ) -> None:
        super().__init__()
        self.variant = variant
        self.sep = sep  # table row of the separator between edit and query
        self.cross_head = cross_head
        self.encoder = Encoder(rows, width, layers, heads, max_len, seed, causal=False)
        self.head: nn.Module
        if variant == "embedding":
            self.proj = nn.Linear(width, embed_dim)
            self.log_scale = nn.Parameter(torch.zeros(()))
        elif cross_head == "pair":
            self.head = PairHead(width)
        else:  # "mean": one mean over the whole pair, a logistic head (networks of format 1)
            self.head = nn.Linear(width, 1)

    # -- embedding variant -------------------------------------------------------------------------
    def embed(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """[B, E] embeddings of edits or queries (embedding variant)."""
        return self.proj(mean_pool(self.encoder(ids, pad), pad))

    def logsim(self, e_edit: torch.Tensor, e_query: torch.Tensor) -> torch.Tensor:
        """Paired log-scores [B] = -scale * ||e_edit - e_query||^2 (SERAC's distance classifier)."""
        d2 = (e_edit - e_query).pow(2).sum(-1)
        return -self.log_scale.exp() * d2

    def logsim_matrix(self, e_query: torch.Tensor, e_memory: torch.Tensor) -> torch.Tensor:
        """[B, M] log-scores of every query against every stored edit's embedding."""
        d2 = torch.cdist(e_query, e_memory).pow(2)
        return -self.log_scale.exp() * d2

    # -- cross-encoder variant -------------------------------------------------------------------
    def cross_logit(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """[B] logits of ``edit [SEP] query`` pairs (cross variant); log-score = logsigmoid."""
        h = self.encoder(ids, pad)
        if self.cross_head == "mean":
            return self.head(mean_pool(h, pad)).squeeze(-1)
        edit_out, query_out = halves(ids, pad, self.sep)
        return self.head(mean_pool(h, edit_out), mean_pool(h, query_out))


class Counterfactual(nn.Module):
    """Next-token logits over the vocabulary after ``answer, edit prompt, [SEP], query``."""

    def __init__(
        self, rows: int, vocab: int, width: int, layers: int, heads: int, max_len: int, seed: int
    ) -> None:
        super().__init__()
        self.vocab = vocab
        self.encoder = Encoder(rows, width, layers, heads, max_len, seed, causal=True)
        self.out = nn.Linear(width, width)
        self.log_temp = nn.Parameter(torch.tensor(math.log(1.0)))

    def forward(self, ids: torch.Tensor, pad: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """ids/pad [B, T]; ``last`` [B] position of each row's final token -> logits [B, vocab]."""
        h = self.encoder(ids, pad)
        rows = torch.arange(ids.shape[0], device=ids.device)
        z = self.out(h[rows, last])  # [B, W]
        # Output tied to the fixed table: copying a token = pointing at its row.
        return (z @ self.encoder.table[: self.vocab].T) * self.log_temp.exp()
