"""Probes: for every edge and format, the prompt's token ids and the exact answer id.

A probe is the sentence up to (and including) the ``OO`` marker, preceded by end-of-text as
every document in training is; the answer is the object's token. Evaluation compares the
model's greedy next token with it, never parsing text. Probe sets group one template and edge
kind; the question format is split into subjects trained with questions (``question``) and
held-out ones (``question_new``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from behemoth.world.config import WorldConfig
from behemoth.world.corpus import KIND_ONO, KIND_SNO, KIND_SO, facts_for
from behemoth.world.graph import KINDS, Graph
from behemoth.world.rng import hash_u64, stream_key
from behemoth.world.templates import (
    Facts,
    Slot,
    Template,
    get_template,
    is_fixed,
    render_matrix,
)
from behemoth.world.vocab import EOT, Vocabulary

#: Rows per Parquet row group of probes.parquet.
ROW_GROUP = 1 << 18


@dataclass
class ProbeSet:
    """Prompts (ragged, as flat tokens + offsets) and answers of one probe set."""

    name: str
    template: str
    kind: str  # "S-O", "S-NO" or "O-NO"
    trained: bool  # whether this format was in the training corpus for these edges
    subject: np.ndarray  # [n] subject index (-1 for O-NO)
    relation: np.ndarray  # [n]
    object: np.ndarray  # [n] object index of the edge (O-NO: the object in the subject slot)
    answer: np.ndarray  # [n] answer token id
    tokens: np.ndarray  # flat prompt tokens (int32)
    offsets: np.ndarray  # [n + 1] int64

    def __len__(self) -> int:
        return int(self.answer.shape[0])

    def prompt(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batches(self, max_batch: int = 1024) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (row indices, prompt matrix [b, L]) with all prompts of equal length: no padding."""
        lengths = self.lengths
        for L in np.unique(lengths):
            rows = np.flatnonzero(lengths == L)
            for a in range(0, len(rows), max_batch):
                idx = rows[a : a + max_batch]
                mat = self.tokens[self.offsets[idx][:, None] + np.arange(L)[None, :]]
                yield idx, mat.astype(np.int64)

    def subset(self, rows: np.ndarray) -> ProbeSet:
        rows = np.asarray(rows, dtype=np.int64)
        lens = self.lengths[rows]
        offs = np.concatenate([[0], np.cumsum(lens)])
        toks = np.concatenate([self.prompt(int(i)) for i in rows]) if len(rows) else self.tokens[:0]
        return ProbeSet(
            self.name,
            self.template,
            self.kind,
            self.trained,
            self.subject[rows],
            self.relation[rows],
            self.object[rows],
            self.answer[rows],
            toks,
            offs,
        )


def _set(
    name: str,
    template: str,
    kind: int,
    trained: bool,
    vocab: Vocabulary,
    graph: Graph,
    subj: np.ndarray,
    rel: np.ndarray,
    obj: np.ndarray,
    seed: int,
    subject_tokens: np.ndarray | None = None,
    fixed_facts: dict[int, Facts] | None = None,
) -> ProbeSet:
    """``fixed_facts``: the facts of fixed templates by edge kind, shared by every set built
    with the same dict (the caller's sets on the same rows): they depend on the rows alone."""
    t = get_template(template)
    facts = fixed_facts.get(kind) if fixed_facts is not None and is_fixed(t) else None
    if facts is None:
        kinds = np.full(len(rel), kind, dtype=np.int64)
        if is_fixed(t):  # a fixed template draws nothing: its sentences ignore the bits
            bits = np.zeros(len(rel), dtype=np.uint64)
        else:
            edge_ids = (np.where(subj >= 0, subj, obj) * graph.n_relations + rel).astype(np.uint64)
            key = stream_key(seed, f"probe-{name}")
            bits = hash_u64(key, edge_ids * np.uint64(3) + np.uint64(kind))
        facts = facts_for(vocab, graph, kinds, subj, rel, obj, bits, subject_tokens)
        if fixed_facts is not None and is_fixed(t):
            fixed_facts[kind] = facts
    n = len(facts)
    if is_fixed(t) and not t.refusal:
        # the prompt is itself a fixed template: end-of-text, then the elements before the
        # object; rendered straight into int32 (every id fits), the answer is the object
        head = Template(t.name, (EOT, *t.elements[: t.elements.index(Slot("O"))]))
        prompt, _, ragged = render_matrix(head, facts, vocab, dtype=np.int32)
        if not ragged:  # every prompt has the same length: no masking
            offsets = np.arange(n + 1, dtype=np.int64) * prompt.shape[1]
            answer = facts.obj.astype(np.int64)
            tokens = prompt.reshape(-1)
            return ProbeSet(
                name, template, KINDS[kind], trained, subj, rel, obj, answer, tokens, offsets
            )
    mat, col, _ = render_matrix(t, facts, vocab, dtype=np.int32)
    width = mat.shape[1]
    answer = mat[:, col].astype(np.int64)
    # [n, 1 + width]: end-of-text, then the words before the answer (-1 = absent)
    prompt = np.empty((n, width + 1), dtype=np.int32)
    prompt[:, 0] = EOT
    prompt[:, 1:] = mat
    valid = prompt >= 0
    valid[:, 1:] &= np.arange(width)[None, :] < col
    tokens = prompt[valid]
    offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
    return ProbeSet(name, template, KINDS[kind], trained, subj, rel, obj, answer, tokens, offsets)


def probe_templates(cfg: WorldConfig) -> list[tuple[str, bool]]:
    """(template, in training) for S-O statement probes of this world."""
    if cfg.template == "simple_repeats":
        return [("simple_repeats", True), ("sro", False)]
    if cfg.template == "nonsense":
        return [("nonsense_sro", True), ("nonsense_rso", cfg.inversion_frac > 0)]
    return [("sro", True), ("rso", cfg.inversion_frac > 0)]


def build_probes(cfg: WorldConfig, graph: Graph, vocab: Vocabulary) -> dict[str, ProbeSet]:
    """Every probe set of a world: statements per template, questions, new QA, nested edges."""
    S, R = graph.objects.shape
    s = np.repeat(np.arange(S), R)
    r = np.tile(np.arange(R), S)
    o = graph.objects.reshape(-1)
    st = vocab.subject(np.arange(S))  # [S, k], looked up per probe row below
    out: dict[str, ProbeSet] = {}
    every_edge: dict[int, Facts] = {}  # facts of fixed templates over every edge, by kind

    def one(name: str, template: str, kind: int, trained: bool, rows: np.ndarray | slice) -> None:
        shared = every_edge if isinstance(rows, slice) else None
        out[name] = _set(
            name,
            template,
            kind,
            trained,
            vocab,
            graph,
            s[rows],
            r[rows],
            o[rows],
            cfg.seed,
            st,
            shared,
        )

    every = slice(None)
    for template, trained in probe_templates(cfg):
        one(template, template, KIND_SO, trained, every)
    q = np.repeat(graph.question_subjects, R)
    if q.any():
        one("question", "question", KIND_SO, cfg.questions_frac > 0, q)
    if (~q).any():
        one("question_new", "question", KIND_SO, False, ~q)
    one("qa_new", "qa_new", KIND_SO, False, every)
    if graph.nested:
        O = graph.nested_of.shape[1]
        rr, oo = np.repeat(np.arange(R), O), np.tile(np.arange(O), R)
        for name, template, trained in nested_probe_templates(cfg):
            one(f"nested_sno{name}", template, KIND_SNO, trained, every)
            out[f"nested_ono{name}"] = _set(
                f"nested_ono{name}",
                template,
                KIND_ONO,
                trained,
                vocab,
                graph,
                np.full(R * O, -1),
                rr,
                oo,
                cfg.seed,
            )
    return out


def nested_probe_templates(cfg: WorldConfig) -> list[tuple[str, str, bool]]:
    """(name suffix, template, in training) of the S-NO and O-NO probe sets of a nested world,
    one pair per statement template the reference generator (arXiv 2601.23153; its
    ``create_data.py``, docs: reference-format.md, "Probes") writes nested probe files for.
    The base order gives ``nested_sno`` and ``nested_ono``. The inverted order gives
    ``nested_sno_rso`` / ``nested_ono_rso`` (its ``subject_nested_object_rso.txt``,
    ``object_nested_object_rso.txt``) when ``inversion_frac`` > 0, and the nonsense grammar's
    ``nested_sno_nonsense_rso`` / ``nested_ono_nonsense_rso`` always (the reference writes
    both nonsense orders; trained only with inversions), as for the S-O statements."""
    base = "sro" if cfg.template == "sro" else probe_templates(cfg)[0][0]
    out = [("", base, True)]
    if cfg.template == "nonsense" or (cfg.template == "sro" and cfg.inversion_frac > 0):
        _, (inverted, trained) = probe_templates(cfg)
        out.append((f"_{inverted}", inverted, trained))
    return out


def save_probes(sets: dict[str, ProbeSet], path: str | Path) -> None:
    """Write every set to one Parquet file (ids as int32: every id and index fits).

    Written for speed on millions of rows (the 100,000 x 6 x 400 world has 2.4x10^6 probes,
    and Parquet encoding was the largest part of ``behemoth generate``'s CPU time):

    - the set / template / kind strings are handed over already dictionary-encoded (a row's
      index into the few distinct values), so the writer never hashes 2.4x10^6 strings;
    - ``object`` and ``answer`` (a few thousand distinct values at most) are dictionary
      encoded, the other id columns not (too many distinct values, or compressed as well
      without); no column statistics (nothing reads them);
    - every column is declared non-null, so no definition levels are computed for the ids
      and none for the prompts' tokens;
    - each set's prompts are handed over as its own tokens and offsets (no concatenated copy);
    - row groups of 2^18 rows: the writer's buffers for one row group are smaller and reused
      (measured: ~0.05-0.09 s less than 2^20-row groups, for 0.7% more bytes).

    Reading gives the same probes as files written before (``load_probes`` reads both); the
    three string columns read back as dictionary-typed strings.
    """
    ps = list(sets.values())
    lengths = np.array([len(p) for p in ps], dtype=np.int64)
    n = int(lengths.sum())
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for column, values in (
        ("set", [p.name for p in ps]),
        ("template", [p.template for p in ps]),
        ("kind", [p.kind for p in ps]),
    ):
        distinct = list(dict.fromkeys(values))
        index = np.repeat(np.array([distinct.index(v) for v in values], dtype=np.int32), lengths)
        columns[column] = pa.DictionaryArray.from_arrays(index, pa.array(distinct, pa.string()))
    columns["trained"] = pa.array(np.repeat(np.array([p.trained for p in ps], dtype=bool), lengths))
    for column in ("subject", "relation", "object", "answer"):
        ids = np.empty(n, dtype=np.int32)
        at = 0
        for p, k in zip(ps, lengths):
            ids[at : at + k] = getattr(p, column)
            at += int(k)
        columns[column] = pa.array(ids)
    prompt_type = pa.list_(pa.field("element", pa.int32(), nullable=False))
    columns["prompt"] = pa.chunked_array(
        [
            pa.ListArray.from_arrays(
                pa.array(p.offsets.astype(np.int32)),
                pa.array(np.asarray(p.tokens, dtype=np.int32)),
                type=prompt_type,
            )
            for p in ps
        ],
        type=prompt_type,
    )
    schema = pa.schema([pa.field(k, v.type, nullable=False) for k, v in columns.items()])
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    pq.write_table(
        pa.table(columns, schema=schema),
        tmp,
        compression="zstd",
        use_dictionary=["set", "template", "kind", "object", "answer"],
        write_statistics=False,
        row_group_size=ROW_GROUP,
    )
    tmp.replace(path)


def load_probes(path: str | Path) -> dict[str, ProbeSet]:
    t = pq.read_table(path)
    out: dict[str, ProbeSet] = {}
    names = t["set"].to_pylist()
    order = list(dict.fromkeys(names))
    name_arr = np.array(names)
    for name in order:
        rows = np.flatnonzero(name_arr == name)
        sub = t.take(pa.array(rows))
        lst = sub["prompt"].combine_chunks()
        offs = lst.offsets.to_numpy().astype(np.int64)
        toks = lst.values.to_numpy().astype(np.int32)
        offs = offs - offs[0]
        out[name] = ProbeSet(
            name,
            sub["template"][0].as_py(),
            sub["kind"][0].as_py(),
            bool(sub["trained"][0].as_py()),
            sub["subject"].to_numpy().astype(np.int64),
            sub["relation"].to_numpy().astype(np.int64),
            sub["object"].to_numpy().astype(np.int64),
            sub["answer"].to_numpy().astype(np.int64),
            toks[: offs[-1]] if len(offs) else toks,
            offs,
        )
    return out
