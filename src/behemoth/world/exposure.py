"""Exposure: how many times each fact is written in one pass of the corpus (issue 25).

Two halves. :func:`repeat_counts` is the *plan*, a pure function of (config, graph, seed): the
number of times each S-O fact is written per pass, drawn from the configured distribution
(:class:`behemoth.world.config.ExposureConfig`). The corpus (:mod:`behemoth.world.corpus`)
writes exactly that many documents of each fact. :func:`exposure_table` is the *record*: the
occurrences of every edge per template and format, counted from the very sentence rows the
corpus renders, written with the world as ``exposure.parquet`` and read back by
:func:`load_exposure` and :func:`fact_exposure`.

The Zipf plan follows the rank-frequency law of Zipf (1949, *Human Behavior and the Principle
of Least Effort*), ``f(k) ~ k^-a``, as used for long-tail fact frequency by Kandpal et al.
(2023, "Large Language Models Struggle to Learn Long-Tail Knowledge", ICML): the unit of rank
``k`` (a subject, a relation or a fact, in a seeded random order) gets weight ``k^-a``; weights
are scaled to the counts ``x_f = max(min_repeats, c * w_f)`` whose mean over facts is exactly
``repeats`` (``c`` found by water-filling, as the clamped units free up mass), then rounded to
integers by largest remainders (Hamilton's method), ties to the lower unit index, so the total
stays exactly ``repeats`` x facts: a Zipf world's corpus is as large as its uniform control.
A head/tail plan gives its two counts as they are (its mean is not ``repeats``).

What each document kind follows (the corpus's groups):

- shuffled S-O statements (``so``): fact f is written ``counts[f]`` times;
- S-NO statements (``sno``, nested worlds): the S-NO edge of (s, r) follows the count of
  (s, r), in shuffled worlds and in biographies alike;
- biographies (``shuffle: false``): subject s has ``max_r counts[s, r]`` biographies;
  biography number ``k`` (0-based) states those facts of s whose count exceeds ``k`` (and their
  S-NO edges), in a random order; so fact (s, r) is stated in exactly ``counts[s, r]`` of them;
- O-NO statements and questions: unchanged (``repeats * nested_upweight`` and
  ``question_repeats`` per edge), whatever the exposure.

Minority objects (``minority_entity_frac``) are drawn per sentence as before: a sentence of a
dissenting edge counts towards its fact, flagged ``minority`` in the table.

Counting the record costs little where no sentence draws its template or object (one document
per item, weighted by its copies: the paper world's 600,000 facts in ~1 s; biographies too);
corpora with inversions or minority objects are counted sentence by sentence, about as long as
rendering them once more (4 million sentences with inversions: ~3 s, as long as writing their
shards; it runs in a thread beside the shard writers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from behemoth.world.exclude import KIND_ONO, KIND_SNO, KIND_SO, fact_ids, n_fact_ids
from behemoth.world.exposure_plan import apportion, repeat_counts
from behemoth.world.graph import KINDS, Graph

__all__ = [
    "EXPOSURE_FILE",
    "apportion",
    "exposure_table",
    "fact_exposure",
    "load_exposure",
    "repeat_counts",
    "save_exposure",
]

if TYPE_CHECKING:
    from behemoth.world.corpus import Corpus


class WorldLike(Protocol):
    """What the readers below need of a loaded :class:`behemoth.world.world.World` (named
    structurally: the world module imports this one)."""

    path: Path

    @property
    def graph(self) -> Graph: ...

    @property
    def corpus(self) -> Corpus: ...

    @property
    def exposure(self) -> pd.DataFrame: ...


#: The file a world records its exposure table in.
EXPOSURE_FILE = "exposure.parquet"
#: Sentences counted per step while counting a whole pass.
COUNT_CHUNK = 1 << 20
#: Columns of the exposure table, in order.
COLUMNS = ("fact_id", "kind", "subject", "relation", "template", "format", "minority", "count")


# -- the record ------------------------------------------------------------------------------


def exposure_table(corpus: Corpus) -> pd.DataFrame:
    """Occurrences of every edge in one pass of ``corpus``, per template, format (statement or
    question) and object (``minority``: the sentence states the dissenting object), counted
    from the sentence rows the corpus renders (:meth:`Corpus.sentences`). One row per
    (fact id, template, minority) that occurs; ``count`` > 0. A corpus with an exclusion mask
    (:mod:`behemoth.world.exclude`) counts its excluded sentences as what they are: padding.

    Where no sentence draws its template or object, each item is counted from one of its
    documents, weighted by its copies (:meth:`Corpus.one_per_item`); other corpora are counted
    sentence by sentence over the whole pass."""
    from behemoth.world.corpus import CORPUS_TEMPLATES

    graph = corpus.graph
    n_ids = n_fact_ids(graph)
    M = 2 if corpus.cfg.minority_entity_frac > 0 else 1  # object: the fact's own, minority
    acc: dict[int, np.ndarray] = {}  # template -> counts of key fact id * M + minority

    R = graph.n_relations
    per_fact = corpus.fact_counts if corpus.fact_counts is not None else None

    def add(gids: np.ndarray, weights: np.ndarray | None, bio: np.ndarray | None = None) -> None:
        rows = corpus.sentences(gids)
        fid = fact_ids(graph, rows.kind, rows.subj, rows.rel, rows.obj)
        key = fid * M + rows.minority
        w = None if weights is None else weights[rows.unit]
        if w is not None and bio is not None:  # a biography's sentence: its fact's count
            b = bio[rows.unit]
            f = rows.subj[b] * R + rows.rel[b]
            n = per_fact[f] if per_fact is not None else np.full(len(f), corpus.cfg.repeats)
            w[b] = n * (w[b] > 0)  # (a subject without biographies: none of its facts)
        if corpus.exclude is not None:  # an excluded sentence is padding: it states nothing
            kept = (~corpus.exclude[fid]).astype(np.float64)
            w = kept if w is None else w * kept
        # one small array per template used (a few of them), not one over every template
        for t in np.flatnonzero(np.bincount(rows.tmpl)):
            m = rows.tmpl == t
            got = np.bincount(key[m], weights=None if w is None else w[m], minlength=n_ids * M)
            into = acc.setdefault(int(t), np.zeros(n_ids * M, dtype=np.int64))
            into += got.astype(np.int64, copy=False)

    plan = corpus.one_per_item()
    if plan is not None:
        units, copies, bios = plan
        for a in range(0, len(units), COUNT_CHUNK):
            sl = slice(a, a + COUNT_CHUNK)
            add(units[sl], copies[sl].astype(np.float64), bios[sl])
    else:
        step = max(1, COUNT_CHUNK * corpus.n_units // max(1, corpus.n_sentences))
        for a in range(0, corpus.n_units, step):
            add(np.arange(a, min(corpus.n_units, a + step), dtype=np.int64), None)
    parts = [(np.flatnonzero(c), t) for t, c in acc.items()]
    keys = np.concatenate([k for k, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    tmpl = np.concatenate([np.full(len(k), t) for k, t in parts]) if parts else keys
    count = np.concatenate([acc[t][k] for k, t in parts]) if parts else keys
    fid, minority = np.divmod(keys, M)
    order = np.lexsort((minority, tmpl, fid))  # by fact, then template, then object
    fid, tmpl, minority, count = fid[order], tmpl[order], minority[order], count[order]
    S, R = graph.objects.shape
    kind = np.where(fid < S * R, KIND_SO, np.where(fid < 2 * S * R, KIND_SNO, KIND_ONO))
    so = fid % (S * R)
    dtypes = _dtypes()
    return pd.DataFrame(
        {
            "fact_id": fid.astype(np.int64),
            "kind": pd.Categorical.from_codes(kind, dtype=dtypes["kind"]),
            "subject": np.where(kind == KIND_ONO, -1, so // R).astype(np.int64),
            "relation": np.where(
                kind == KIND_ONO, (fid - 2 * S * R) // max(1, graph.nested_of.shape[1]), so % R
            ).astype(np.int64),
            "template": pd.Categorical.from_codes(tmpl, dtype=dtypes["template"]),
            "format": pd.Categorical.from_codes(
                (tmpl == CORPUS_TEMPLATES.index("question")).astype(np.int8),
                dtype=dtypes["format"],
            ),
            "minority": minority.astype(bool),
            "count": count.astype(np.int64),
        },
        columns=list(COLUMNS),
    )


def _dtypes() -> dict[str, pd.CategoricalDtype]:
    """The fixed categories of the table's text columns (the same in memory and on disk)."""
    from behemoth.world.corpus import CORPUS_TEMPLATES

    return {
        "kind": pd.CategoricalDtype(list(KINDS)),
        "template": pd.CategoricalDtype(list(CORPUS_TEMPLATES)),
        "format": pd.CategoricalDtype(["statement", "question"]),
    }


def save_exposure(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table to ``path`` through a temporary file renamed into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(
        pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(
            {b"behemoth.exposure": b"1"}
        ),
        tmp,
        compression="zstd",
    )
    tmp.replace(path)


def load_exposure(world: WorldLike) -> pd.DataFrame:
    """The world's exposure table: ``exposure.parquet`` as generated, or, for a world written
    before the table existed, counted now from its corpus (the same numbers)."""
    f = Path(world.path) / EXPOSURE_FILE
    if f.is_file():
        import pyarrow.parquet as pq

        table = pq.read_table(f).to_pandas()
        return table.astype(_dtypes())[list(COLUMNS)]
    return exposure_table(world.corpus)


def fact_exposure(world: WorldLike) -> np.ndarray:
    """int64 [n_fact_ids]: sentences stating each fact in one pass of the world's corpus (every
    template and format, either object), indexed like :func:`behemoth.world.exclude.fact_ids`
    (S-O ``s * R + r``, S-NO ``S * R + s * R + r``, O-NO after them)."""
    table = world.exposure  # read once per loaded world (load_exposure)
    n = n_fact_ids(world.graph)
    return np.bincount(
        table["fact_id"].to_numpy(np.int64), weights=table["count"].to_numpy(np.int64), minlength=n
    ).astype(np.int64)
