"""The corpus as a pure function of (config, graph): document *u* always renders the same.

The corpus is a list of documents ("units"): with ``shuffle`` one sentence each, otherwise a
biography (all facts of one subject, in random order) per subject and repeat. O-NO edges and
question sentences are units of their own. The stream order is a seeded permutation of all
units, evaluated pointwise (:class:`~behemoth.world.rng.Permutation`), so a chunk of the
stream can be rendered anywhere without rendering what comes before it. Written shards and the
on-the-fly training sampler are the same stream.

How many documents state each fact is the world's exposure (:mod:`behemoth.world.exposure`):
``repeats`` copies of every fact, or a per-fact count; then a group's items have their own
numbers of copies, laid out item after item (unit -> item through the cumulative counts), and a
biography states only the facts whose count exceeds its number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from behemoth.world.config import WorldConfig
from behemoth.world.exclude import fact_ids, n_fact_ids
from behemoth.world.exposure_plan import repeat_counts
from behemoth.world.graph import Graph
from behemoth.world.rng import Permutation, below, hash_u64, mix64, stream_key, uniform
from behemoth.world.sentence_table import MAX_TABLE_BYTES, SentenceTable
from behemoth.world.templates import (
    INVERSIONS,
    Facts,
    Template,
    get_template,
    is_fixed,
    render_mixed,
)
from behemoth.world.vocab import DOT, EOT, PAD, Vocabulary

#: Every template the pretraining corpus can use, in a fixed order (ids are indices).
CORPUS_TEMPLATES = (
    "sro",
    *INVERSIONS,
    "simple_repeats",
    "nonsense_sro",
    "nonsense_rso",
    "question",
)
_T = {name: i for i, name in enumerate(CORPUS_TEMPLATES)}
KIND_SO, KIND_SNO, KIND_ONO = 0, 1, 2
SENTENCE_TAIL = (DOT, EOT)


@dataclass(frozen=True)
class Group:
    """Documents of one kind: ``items`` distinct ones, each ``reps`` times, or, when
    ``counts`` is given, item i ``counts[i]`` times (its copies are consecutive units)."""

    name: str
    items: int
    reps: int
    counts: np.ndarray | None = field(default=None, compare=False, repr=False)

    @cached_property
    def ends(self) -> np.ndarray:
        """One past the last unit (within the group) of every item (variable counts only)."""
        assert self.counts is not None
        return np.cumsum(self.counts)

    @property
    def units(self) -> int:
        return int(self.ends[-1]) if self.counts is not None else self.items * self.reps

    def locate(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offsets within the group -> (item, copy number of that item)."""
        if self.counts is None:
            return local % self.items, local // self.items
        item = np.searchsorted(self.ends, local, side="right")
        return item, local - (self.ends[item] - self.counts[item])

    def first_units(self) -> np.ndarray:
        """Offset of one document of every item (an item with no copy: a neighbour's)."""
        if self.counts is None:
            return np.arange(self.items, dtype=np.int64)
        first = self.ends - self.counts
        return np.minimum(first, self.units - 1).astype(np.int64)

    def copies(self) -> np.ndarray:
        """Copies of every item in one pass."""
        if self.counts is None:
            return np.full(self.items, self.reps, dtype=np.int64)
        return np.asarray(self.counts, dtype=np.int64)


@dataclass(frozen=True)
class Sentences:
    """What each sentence of some documents states (the rows the renderer turns into tokens).

    ``unit``: index of the document (in the ids given) each sentence belongs to; ``obj``: object
    index in its relation (for O-NO: the subject-slot object); ``minority``: 1 where the sentence
    states its edge's dissenting object."""

    unit: np.ndarray
    kind: np.ndarray
    subj: np.ndarray
    rel: np.ndarray
    obj: np.ndarray
    tmpl: np.ndarray
    bits: np.ndarray
    minority: np.ndarray


class Corpus:
    """Renders any range of the (infinite, cycling) document stream of a world.

    ``exclude``: a boolean mask over fact ids (:mod:`behemoth.world.exclude`); every sentence
    stating an excluded edge is replaced, in every document, by as many ``PAD`` tokens as it had
    (the stream's order, lengths and every other token's position are unchanged).
    ``order_seed``: which permutation of the documents each pass uses; 0 is the world's own
    order (the one its shards hold), another value another order of the very same documents
    (a trained replicate's data order, :class:`behemoth.model.config.RunConfig` ``data_seed``).
    """

    def __init__(
        self,
        cfg: WorldConfig,
        graph: Graph,
        vocab: Vocabulary,
        exclude: np.ndarray | None = None,
        order_seed: int = 0,
    ) -> None:
        if order_seed < 0:
            raise ValueError(f"order_seed: {order_seed} is negative")
        self.cfg, self.graph, self.vocab = cfg, graph, vocab
        self.order_seed = order_seed
        if exclude is not None and len(exclude) != n_fact_ids(graph):
            raise ValueError(
                f"exclude: mask of {len(exclude)} ids, the world has {n_fact_ids(graph)}"
            )
        self.exclude = exclude if exclude is not None and exclude.any() else None
        S, R = graph.n_subjects, graph.n_relations
        self.R = R
        self.q_edges = (
            np.flatnonzero(graph.question_subjects)[:, None] * R + np.arange(R)
        ).reshape(-1)
        nested = graph.nested
        counts = repeat_counts(cfg, graph)
        # None when every fact has `repeats` copies: the layout of worlds before exposure
        self.fact_counts: np.ndarray | None = None if (counts == cfg.repeats).all() else counts
        fc = self.fact_counts
        groups = []
        if cfg.shuffle:
            groups.append(Group("so", S * R, cfg.repeats, fc))
            if nested:
                groups.append(Group("sno", S * R, cfg.repeats, fc))
        else:
            bios = None if fc is None else fc.reshape(S, R).max(axis=1)
            groups.append(Group("bio", S, cfg.repeats, bios))
        if nested:
            groups.append(
                Group("ono", R * graph.nested_of.shape[1], cfg.repeats * cfg.nested_upweight)
            )
        if cfg.question_repeats and len(self.q_edges):
            groups.append(Group("q", len(self.q_edges), cfg.question_repeats))
        self.groups = [g for g in groups if g.units > 0]
        self.starts = np.cumsum([0] + [g.units for g in self.groups])
        self.n_units = int(self.starts[-1])
        self.bio_len = R * (2 if nested else 1)
        self.content_key = stream_key(cfg.seed, "corpus")
        self.order_key = stream_key(cfg.seed, "bio-order")
        self._permutations: dict[int, Permutation] = {}

    @cached_property
    def subject_tokens(self) -> np.ndarray:
        return self.vocab.subject(np.arange(self.graph.n_subjects))

    @property
    def mean_repeats(self) -> float:
        """Mean copies of an S-O fact per pass (``repeats`` unless the exposure varies)."""
        return self.cfg.repeats if self.fact_counts is None else float(self.fact_counts.mean())

    @property
    def n_sentences(self) -> int:
        """Sentences in one pass over the corpus."""
        n = 0
        for g in self.groups:
            if g.name != "bio":
                n += g.units
            elif self.fact_counts is None:
                n += g.units * self.bio_len
            else:  # a biography states the facts whose count exceeds its number
                n += int(self.fact_counts.sum()) * (self.bio_len // self.R)
        return n

    def one_per_item(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """For counting what one pass states without rendering every document: (one unit id
        per item of every group, that item's copies per pass, whether it is a biography), when
        no sentence draws its template or object (no inversion, no dissenting minority, nothing
        excluded); otherwise None. The sentences of a biography vary only in order and in which
        facts it states (those whose count exceeds its number): a subject's first biography
        states each of its facts (with a count) once, and the fact's count says how many
        biographies state it."""
        cfg, g = self.cfg, self.graph
        if self.exclude is not None:
            return None
        if cfg.minority_entity_frac > 0 and cfg.minority_frac > 0 and (g.minority >= 0).any():
            return None
        if cfg.inversion_frac > 0 and cfg.template != "simple_repeats":
            return None
        units = [self.starts[i] + gr.first_units() for i, gr in enumerate(self.groups)]
        copies = [gr.copies() for gr in self.groups]
        bio = [np.full(gr.items, gr.name == "bio") for gr in self.groups]
        return np.concatenate(units).astype(np.int64), np.concatenate(copies), np.concatenate(bio)

    def permutation(self, cycle: int) -> Permutation:
        # kept for the next calls: a Permutation tabulates its round functions once
        perms = self._permutations
        if cycle not in perms:
            if len(perms) >= 2:
                perms.pop(next(iter(perms)))
            name = (
                f"shuffle-{cycle}" if not self.order_seed else f"shuffle-{cycle}-{self.order_seed}"
            )
            perms[cycle] = Permutation(self.n_units, stream_key(self.cfg.seed, name))
        return perms[cycle]

    # -- rendering ---------------------------------------------------------------------------
    def units_at(self, positions: np.ndarray) -> np.ndarray:
        """Stream positions (any non-negative ints) -> global unit ids (cycle * n_units + u)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty_like(positions)
        cycles = positions // self.n_units
        if len(positions) and cycles.min() == cycles.max():  # the usual case: one pass only
            c = int(cycles[0])
            return self.permutation(c)(positions - c * self.n_units) + c * self.n_units
        for c in np.unique(cycles):
            m = cycles == c
            out[m] = self.permutation(int(c))(positions[m] % self.n_units) + c * self.n_units
        return out

    def render_positions(
        self, start: int, stop: int, dtype: np.dtype | type | None = None
    ) -> np.ndarray:
        """Tokens of stream positions [start, stop), concatenated (int64, or ``dtype``)."""
        table = self.table
        if table is None or stop <= start:
            return self.render_units(self.units_at(np.arange(start, stop)), dtype)
        # the units within their pass are all the table needs (a narrow permutation output)
        n, parts = self.n_units, []
        for c in range(start // n, (stop - 1) // n + 1):
            a, b = max(start, c * n) - c * n, min(stop, (c + 1) * n) - c * n
            idx = np.arange(a, b, dtype=np.int32 if b < 2**31 else np.int64)
            parts.append(table.gather(self.permutation(c)(idx, native=True)))
        tokens = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return tokens.astype(dtype or np.int64, copy=False)

    def render_units(self, gids: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
        """Tokens of the given global unit ids, in that order (int64, or ``dtype``)."""
        gids = np.asarray(gids, dtype=np.int64)
        dtype = np.dtype(dtype or np.int64)
        table = self.table
        if table is not None:
            tokens = table.gather(gids % self.n_units)
        else:  # narrower ids (half the memory traffic) when the caller wants narrow ones
            tokens = self._render(gids, np.int64 if dtype.itemsize > 4 else np.int32)[0]
        return tokens.astype(dtype, copy=False)

    def count_tokens(self, start: int, stop: int) -> int:
        """Tokens of stream positions [start, stop), rendered without building the sentence
        table (a small sample should not cost the whole table; shard writers build their own)."""
        return int(self._render(self.units_at(np.arange(start, stop)), np.int32)[1].sum())

    @cached_property
    def table(self) -> SentenceTable | None:
        """Every distinct document rendered once (:mod:`behemoth.world.sentence_table`), when
        documents have no per-sentence randomness and repeat; otherwise None."""
        templates = self._fixed_templates()
        if templates is None:
            return None
        items = [gr.items for gr in self.groups]
        keys = sum(items)
        # a bound on a document's length: every element one token, the subject all of its own
        width = max(len(t.elements) for t in templates) + self.vocab.subject_tokens
        width += len(SENTENCE_TAIL)
        if 2 * keys > self.n_units or keys * width * self.vocab.dtype.itemsize > MAX_TABLE_BYTES:
            return None  # nothing repeats, or the table would be too large: render each unit
        return SentenceTable.build(
            self.starts,
            items,
            lambda u: self._render(u, np.int32),
            self.vocab.dtype,
            width,
            ends=[None if gr.counts is None else gr.ends for gr in self.groups],
        )

    def _fixed_templates(self) -> list[Template] | None:
        """The templates of the corpus if a document is a pure function of its group and item
        (no biography order, exclusion, minority draw, inversion draw, and only templates
        without random elements: exactly when ``_render`` never reads a sentence's bits)."""
        cfg, g = self.cfg, self.graph
        if self.exclude is not None or any(gr.name == "bio" for gr in self.groups):
            return None
        if cfg.minority_entity_frac > 0 and cfg.minority_frac > 0 and (g.minority >= 0).any():
            return None
        if cfg.inversion_frac > 0 or cfg.template == "simple_repeats":
            return None
        names = ["sro" if cfg.template == "sro" else "nonsense_sro"]
        if any(gr.name == "q" for gr in self.groups):
            names.append("question")
        templates = [get_template(name) for name in names]
        return templates if all(is_fixed(t) for t in templates) else None

    def _render(self, gids: np.ndarray, dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
        """Render global unit ids sentence by sentence -> (flat tokens as ``dtype``, a signed
        type that holds every id; sentence lengths)."""
        rows = self.sentences(gids)
        tokens, lengths = render_mixed(
            rows.tmpl,
            CORPUS_TEMPLATES,
            self._facts(rows.kind, rows.subj, rows.rel, rows.obj, rows.bits),
            self.vocab,
            SENTENCE_TAIL,
            dtype,
        )
        if self.exclude is not None:
            # an excluded sentence keeps its place and length as padding: every other token
            # stays at the position it has in the original stream (see world/exclude.py)
            drop = self.exclude[fact_ids(self.graph, rows.kind, rows.subj, rows.rel, rows.obj)]
            if drop.any():
                tokens[_sentence_positions(lengths, drop)] = PAD
        return tokens, lengths

    def sentences(self, gids: np.ndarray) -> Sentences:
        """The sentences of global unit ids, in stream order: which edge each states, with which
        object and template (what :meth:`_render` writes; :mod:`behemoth.world.exposure`
        counts them)."""
        g = self.graph
        R = self.R
        gids = np.asarray(gids, dtype=np.int64)
        u = gids % self.n_units
        single = len(self.groups) == 1  # e.g. the paper preset: every unit is one S-O sentence
        grp = None if single else np.searchsorted(self.starts, u, side="right") - 1
        local = u if grp is None else u - self.starts[grp]
        names = [gr.name for gr in self.groups]
        slot = None
        if "bio" in names:
            bio = names.index("bio")
            is_bio = np.ones(len(u), dtype=bool) if grp is None else grp == bio
            n_sent = np.where(is_bio, self.bio_len, 1)
            sent_unit = np.repeat(np.arange(len(u)), n_sent)
            j = np.arange(len(sent_unit)) - np.repeat(np.cumsum(n_sent) - n_sent, n_sent)
            sid = gids[sent_unit].astype(np.uint64) * np.uint64(self.bio_len) + j.astype(np.uint64)
            in_bio = is_bio[sent_unit]
            # sentence j of a biography states slot[j], in a random order per document
            key = hash_u64(self.order_key, sid[in_bio]).reshape(-1, self.bio_len)
            slot = np.zeros(len(sid), dtype=np.int64)
            slot[in_bio] = np.argsort(key, axis=1, kind="stable").reshape(-1)
            if self.fact_counts is not None:
                # biography k of subject s states the facts of s whose count exceeds k
                s_of, k = self.groups[bio].locate(local[sent_unit[in_bio]])
                keep = np.ones(len(sid), dtype=bool)
                keep[in_bio] = self.fact_counts[s_of * R + slot[in_bio] % R] > k
                sent_unit, sid, slot = sent_unit[keep], sid[keep], slot[keep]
            sg = None if grp is None else grp[sent_unit]
            sl = local[sent_unit]
        else:  # one sentence per unit: sentence j = 0 of each
            sent_unit = np.arange(len(u))
            sid = gids.astype(np.uint64) * np.uint64(self.bio_len)
            sg, sl = grp, local
        bits = hash_u64(self.content_key, sid)

        n = len(sid)
        kind = np.zeros(n, dtype=np.int64)
        subj = np.zeros(n, dtype=np.int64)
        rel = np.zeros(n, dtype=np.int64)
        # object index in its relation (for O-NO: the subject-slot object)
        obj = np.zeros(n, dtype=np.int64)
        tmpl = np.zeros(n, dtype=np.int64)
        for gi, gr in enumerate(self.groups):
            m: np.ndarray | slice = slice(None)  # a single group: every sentence
            if sg is not None:
                in_group = sg == gi
                if not in_group.any():
                    continue
                m = in_group
            if gr.name == "bio":
                assert slot is not None
                subj[m] = gr.locate(sl[m])[0]
                rel[m] = slot[m] % R
                kind[m] = np.where(slot[m] < R, KIND_SO, KIND_SNO)
                continue
            item = gr.locate(sl[m])[0]
            if gr.name in ("so", "sno"):
                subj[m], rel[m] = item // R, item % R
                kind[m] = KIND_SO if gr.name == "so" else KIND_SNO
            elif gr.name == "q":
                e = self.q_edges[item]
                subj[m], rel[m], kind[m] = e // R, e % R, KIND_SO
                tmpl[m] = _T["question"]
            else:  # ono
                O = g.nested_of.shape[1]
                rel[m], obj[m], kind[m] = item // O, item % O, KIND_ONO
        has_ono = "ono" in names
        if has_ono:
            notono = kind != KIND_ONO
            obj[notono] = self._objects_flat[subj[notono] * R + rel[notono]]
        else:
            obj = self._objects_flat[subj * R + rel]
        # Dissent: a minority edge states its minority object with probability minority_frac.
        minority = np.zeros(n, dtype=np.int64)
        if self.cfg.minority_entity_frac > 0:
            so = kind == KIND_SO
            alt = np.full(n, -1)
            alt[so] = g.minority[subj[so], rel[so]]
            use = (alt >= 0) & (
                uniform(mix64(bits ^ np.uint64(0xD155E47))) < self.cfg.minority_frac
            )
            obj[use] = alt[use]
            minority[use] = 1
        if "q" in names:
            base = tmpl != _T["question"]
            tmpl[base] = self._base_templates(bits[base])
        else:
            tmpl = self._base_templates(bits)
        return Sentences(sent_unit, kind, subj, rel, obj, tmpl, bits, minority)

    @cached_property
    def _objects_flat(self) -> np.ndarray:
        return np.ascontiguousarray(self.graph.objects).reshape(-1)

    def _base_templates(self, bits: np.ndarray) -> np.ndarray:
        if self.cfg.inversion_frac <= 0 and self.cfg.template != "simple_repeats":
            # no draw can be below 0: every sentence takes the base order (same as below)
            return np.full(len(bits), _T["sro" if self.cfg.template == "sro" else "nonsense_sro"])
        u = uniform(mix64(bits ^ np.uint64(0x7E3A)))
        inv = u < self.cfg.inversion_frac
        if self.cfg.template == "sro":
            pick = below(mix64(bits ^ np.uint64(0x1A7)), len(INVERSIONS))
            return np.where(inv, 1 + pick, _T["sro"])
        if self.cfg.template == "nonsense":
            return np.where(inv, _T["nonsense_rso"], _T["nonsense_sro"])
        return np.full(len(bits), _T["simple_repeats"])

    def _facts(
        self, kind: np.ndarray, subj: np.ndarray, rel: np.ndarray, obj: np.ndarray, bits: np.ndarray
    ) -> Facts:
        return facts_for(self.vocab, self.graph, kind, subj, rel, obj, bits, self.subject_tokens)


def _sentence_positions(lengths: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Flat token positions of the sentences ``which`` (bool) of a rendering whose sentence
    lengths are ``lengths``."""
    starts = np.cumsum(lengths) - lengths
    ln = lengths[which]
    first = np.repeat(starts[which], ln)
    return first + np.arange(int(ln.sum())) - np.repeat(np.cumsum(ln) - ln, ln)


def facts_for(
    vocab: Vocabulary,
    graph: Graph,
    kind: np.ndarray,
    subj: np.ndarray,
    rel: np.ndarray,
    obj: np.ndarray,
    bits: np.ndarray,
    subject_tokens: np.ndarray | None = None,
) -> Facts:
    """Role fillers (token ids) of edges given by kind / subject / relation / object index."""
    n = len(kind)
    k = vocab.subject_tokens
    nest = kind != KIND_SO
    if not nest.any():  # S-O edges only (the common case): no masks needed
        st = vocab.subject(subj) if subject_tokens is None else subject_tokens[subj]
        r_tok = np.asarray(vocab.relation(rel), dtype=np.int64)
        return Facts(st, r_tok, np.asarray(vocab.object(rel, obj), dtype=np.int64), bits)
    st = np.full((n, k), -1, dtype=np.int64)
    ono = kind == KIND_ONO
    if subject_tokens is None:
        st[~ono] = vocab.subject(subj[~ono])
    else:
        st[~ono] = subject_tokens[subj[~ono]]
    st[ono, 0] = vocab.object(rel[ono], obj[ono])
    r_tok = np.where(
        kind == KIND_SO,
        vocab.relation(rel),
        np.where(kind == KIND_SNO, vocab.nested_relation_sno(rel), vocab.nested_relation_ono(rel)),
    )
    o_tok = np.asarray(vocab.object(rel, obj), dtype=np.int64)
    o_tok[nest] = vocab.nested_object(rel[nest], graph.nested_of[rel[nest], obj[nest]])
    return Facts(st, np.asarray(r_tok, dtype=np.int64), o_tok, bits)
