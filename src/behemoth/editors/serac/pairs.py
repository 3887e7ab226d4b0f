"""Training pairs for SERAC's classifier and counterfactual model, drawn from a world's facts.

Mitchell et al. 2022, Sec. 3.2: the classifier learns from in-scope pairs (an edit and an input
it governs) and out-of-scope pairs, with hard negatives; the counterfactual model learns to
answer in-scope inputs given the edit. Here, for an edit of fact (s, r) to a random new object:

- in scope: the same (s, r) in a random format (every statement template of the world, the
  question format and the fine-tuning-only QA format), two per edit;
- hard negatives: the same subject with another relation, the same relation with another
  subject, and one random fact (three per edit).

Formats (``SeracNetsConfig.formats``): by default every format, as the paper trains on
paraphrases of the edit. These include every format a scenario's generalization split tests
(``rso``, ``question``, ``qa_new``: the formats other than the edit's), so SERAC's
generalization is then measured in formats its networks were trained to route and answer,
while weight editors see the edit's own prompt only: not like-for-like. ``formats: [sro]``
(the edit's own template) trains on that format alone, and the generalization formats are
never rendered (the comparison with weight editors on equal terms).

Only the facts given (``facts``: [n, 2] subject, relation) are ever rendered, edits and queries
alike, so a caller that passes facts disjoint from a scenario's tests trains networks that never
saw a test fact. Sequences are token ids of the networks' table: world tokens, then the
separator row ``vocab``, then scratch rows (see :mod:`behemoth.editors.serac.nets`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from behemoth.errors import ConfigError
from behemoth.scenarios.render import edge_prompts, statement_templates
from behemoth.world.vocab import PAD
from behemoth.world.world import World

POSITIVES = 2
# the negatives of each edit, in the order :meth:`PairSampler.sample` draws them
NEGATIVE_KINDS = ("same_subject", "same_relation", "random")
NEGATIVES = len(NEGATIVE_KINDS)


def query_formats(world: World) -> list[str]:
    """Every S-O prompt format of the world: statement templates, question, new QA format."""
    return [*statement_templates(world), "question", "qa_new"]


def training_formats(world: World, formats: list[str] | None) -> list[str]:
    """The formats training pairs are drawn in: ``formats``, checked against the world's
    (:func:`query_formats`), or all of them when ``formats`` is None."""
    every = query_formats(world)
    if formats is None:
        return every
    if not formats:
        raise ConfigError("formats", "is empty", f"give at least one of {', '.join(every)}")
    for f in formats:
        if f not in every:
            raise ConfigError(
                "formats",
                f"{f!r} is not a prompt format of this world",
                f"choose from {', '.join(every)}",
            )
    return list(dict.fromkeys(formats))


def n_objects(world: World, relation: int) -> int:
    """Objects a relation can take (relation 0 of a binarized correlated world: 2)."""
    return 2 if (world.config.binarize_first and relation == 0) else world.config.objects


@dataclass
class Batch:
    """One step's tensors. ``edits`` [B, Te] edit prompts; ``queries`` [B*5, Tq] with ``labels`` [B*5] (1 = in
    scope), ``group`` [B*5] the edit each query belongs to; ``cf`` [B*2, Tc] in-scope counterfactual
    inputs with ``cf_last`` [B*2] and ``cf_target`` [B*2]; ``cross`` [B*5, Tx] edit [SEP] query."""

    edits: torch.Tensor
    edits_pad: torch.Tensor
    queries: torch.Tensor
    queries_pad: torch.Tensor
    labels: torch.Tensor
    group: torch.Tensor
    cf: torch.Tensor
    cf_pad: torch.Tensor
    cf_last: torch.Tensor
    cf_target: torch.Tensor
    cross: torch.Tensor
    cross_pad: torch.Tensor


def pad_batch(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T], padding mask [B, T] (True = pad), last index [B]."""
    T = max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), PAD, dtype=np.int64)
    pad = np.ones((len(seqs), T), dtype=bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        pad[i, : len(s)] = False
    last = np.array([len(s) - 1 for s in seqs], dtype=np.int64)
    return torch.from_numpy(ids), torch.from_numpy(pad), torch.from_numpy(last)


def edit_sequence(prompt: np.ndarray, target: int) -> np.ndarray:
    """What the counterfactual model sees of an edit: its new answer, then its prompt. The answer
    comes first so that it sits at a fixed position whatever the prompt's format and length."""
    return np.concatenate([[int(target)], np.asarray(prompt, dtype=np.int64)])


def cf_sequence(edit: np.ndarray, sep: int, query: np.ndarray) -> np.ndarray:
    """The counterfactual model's input: ``new answer, edit prompt, [SEP], query`` (or, for the
    cross-encoder, ``edit prompt, [SEP], query``)."""
    return np.concatenate([edit, [sep], np.asarray(query, dtype=np.int64)])


class PairSampler:
    """Draws :class:`Batch` es from ``facts`` ([n, 2] subject, relation) of ``world``."""

    def __init__(
        self,
        world: World,
        facts: np.ndarray,
        rng: np.random.Generator,
        scratch_rows: int,
        scratch_share: float,
        formats: list[str] | None = None,
    ) -> None:
        if len(facts) < 2:
            raise ValueError("SERAC needs at least two training facts")
        self.world = world
        self.facts = np.asarray(facts, dtype=np.int64)
        self.rng = rng
        self.vocab = int(world.vocab.size)
        self.sep = self.vocab
        self.scratch_rows, self.scratch_share = scratch_rows, scratch_share
        self.subject_range = world.vocab.ranges["subject"]
        g = world.graph
        s, r = self.facts[:, 0], self.facts[:, 1]
        self.formats = training_formats(world, formats)
        # prompts[f][k]: fact k rendered in format f (its true answer is never used)
        self.prompts = [self._render(f, s, r, g.objects[s, r]) for f in self.formats]
        self.by_subject = {int(a): np.flatnonzero(s == a) for a in np.unique(s)}
        self.by_relation = {int(a): np.flatnonzero(r == a) for a in np.unique(r)}

    def _render(self, fmt: str, s: np.ndarray, r: np.ndarray, o: np.ndarray) -> list[np.ndarray]:
        p = edge_prompts(self.world, fmt, "S-O", s, r, o)
        return [p.prompt(i).astype(np.int64) for i in range(len(p))]

    def _prompt(self, k: int) -> np.ndarray:
        return self.prompts[int(self.rng.integers(len(self.formats)))][k]

    def _other(self, pool: np.ndarray | None, not_k: int) -> int:
        """A fact of ``pool`` other than ``not_k``; a random fact when there is none."""
        if pool is not None and len(pool) > 1:
            pick = int(pool[self.rng.integers(len(pool))])
            while pick == not_k:
                pick = int(pool[self.rng.integers(len(pool))])
            return pick
        pick = int(self.rng.integers(len(self.facts)))
        while pick == not_k:
            pick = int(self.rng.integers(len(self.facts)))
        return pick

    def _remap(self, seq: np.ndarray, salt: int) -> np.ndarray:
        """Swap subject tokens for scratch rows (consistently within one edit's group)."""
        lo, hi = self.subject_range
        out = seq.copy()
        m = (out >= lo) & (out < hi)
        out[m] = self.vocab + 1 + (out[m] * 1_000_003 + salt) % self.scratch_rows
        return out

    def sample(self, n_edits: int) -> Batch:
        rng, g, V = self.rng, self.world.graph, self.world.vocab
        edits, queries, labels, group, cf, cf_t, cross = [], [], [], [], [], [], []
        for b, k in enumerate(rng.integers(len(self.facts), size=n_edits)):
            k = int(k)
            s, r = int(self.facts[k, 0]), int(self.facts[k, 1])
            old = int(g.objects[s, r])
            new = int(rng.integers(n_objects(self.world, r) - 1))
            new += new >= old
            target = int(V.object(r, new))
            swap = self.scratch_rows > 0 and rng.random() < self.scratch_share
            salt = int(rng.integers(1 << 30))

            def fix(x: np.ndarray, _swap: bool = swap, _salt: int = salt) -> np.ndarray:
                return self._remap(x, _salt) if _swap else x

            prompt = fix(self._prompt(k))
            edits.append(prompt)  # the classifier sees the edit's input
            edit = edit_sequence(prompt, target)  # the counterfactual model also its answer
            members = [k] * POSITIVES + [
                self._other(self.by_subject.get(s), k),
                self._other(self.by_relation.get(r), k),
                self._other(None, k),
            ]
            for j, q_k in enumerate(members):
                q = fix(self._prompt(q_k))
                pos = j < POSITIVES
                queries.append(q)
                labels.append(1.0 if pos else 0.0)
                group.append(b)
                cross.append(cf_sequence(prompt, self.sep, q))
                if pos:
                    cf.append(cf_sequence(edit, self.sep, q))
                    cf_t.append(target)
        e, e_pad, _ = pad_batch(edits)
        qs, q_pad, _ = pad_batch(queries)
        c, c_pad, c_last = pad_batch(cf)
        x, x_pad, _ = pad_batch(cross)
        return Batch(
            e,
            e_pad,
            qs,
            q_pad,
            torch.tensor(labels),
            torch.tensor(group),
            c,
            c_pad,
            c_last,
            torch.tensor(cf_t),
            x,
            x_pad,
        )
