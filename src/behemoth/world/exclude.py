"""Facts left out of a corpus: the training data of a model that never saw a forget set.

Every edge of a world has one *fact id*: S-O edge (s, r) is ``s * R + r``, its S-NO consequence
is ``S * R + s * R + r`` and O-NO edge (r, o) is ``2 * S * R + r * O + o``. A corpus built with
an exclusion mask over these ids drops every sentence stating an excluded edge, in any template
(statements, inversions, questions) and with either of its objects (a dissenting minority
statement of (s, r) states (s, r) too). Biographies keep their other sentences.

Exposure (issue 21). An excluded sentence is not dropped but replaced by ``PAD`` tokens of its
own length, in place: the stream keeps every document, every length and every other token at
the position it has in the original stream. Over any token budget, and so over the original's
step count, the oracle therefore reads each retained fact exactly as many times as the original
did, in the same context windows and at the same steps of the learning-rate schedule.
(Dropping the sentences and repacking, as before, made the oracle read each retained fact
1.14-1.15x as often at the same step count on the tiny world with half of one relation
forgotten; the issue measured 1.17-1.35x on other worlds. Stopping the oracle earlier cannot
make the counts equal for every fact, since a repacked stream reaches the facts at other
steps.) The padding is read as input; the training loss should not ask the model to predict it
(``PAD`` never occurs in an unexcluded stream).
"""

from __future__ import annotations

import hashlib

import numpy as np

from behemoth.errors import ConfigError
from behemoth.world.graph import Graph

#: Edge kinds as the corpus numbers them (``behemoth.world.corpus.KIND_*``).
KIND_SO, KIND_SNO, KIND_ONO = 0, 1, 2


def n_fact_ids(graph: Graph) -> int:
    """Size of the fact-id space of ``graph``."""
    S, R = graph.objects.shape
    return 2 * S * R + R * graph.nested_of.shape[1]


def fact_ids(
    graph: Graph, kind: np.ndarray, subj: np.ndarray, rel: np.ndarray, obj: np.ndarray
) -> np.ndarray:
    """Fact ids of edges given per sentence (``obj`` is used by O-NO edges only)."""
    S, R = graph.objects.shape
    O = max(1, graph.nested_of.shape[1])
    kind = np.asarray(kind, dtype=np.int64)
    so = np.asarray(subj, dtype=np.int64) * R + np.asarray(rel, dtype=np.int64)
    ono = 2 * S * R + np.asarray(rel, dtype=np.int64) * O + np.asarray(obj, dtype=np.int64)
    return np.where(kind == KIND_SO, so, np.where(kind == KIND_SNO, S * R + so, ono))


def exclusion_mask(
    graph: Graph,
    so_edges: np.ndarray | None = None,
    sno_edges: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask over fact ids: True for the S-O edges ``so_edges`` and the S-NO edges
    ``sno_edges`` (both given as flat ``s * R + r``)."""
    S, R = graph.objects.shape
    mask = np.zeros(n_fact_ids(graph), dtype=bool)
    for edges, offset, name in ((so_edges, 0, "so_edges"), (sno_edges, S * R, "sno_edges")):
        if edges is None:
            continue
        e = np.asarray(edges, dtype=np.int64)
        if len(e) and (e.min() < 0 or e.max() >= S * R):
            raise ConfigError(name, "edge ids outside 0..S*R-1", "pass flat ids s * R + r")
        if name == "sno_edges" and len(e) and not graph.nested:
            raise ConfigError(name, "the world has no nested facts", "leave sno_edges empty")
        mask[offset + e] = True
    return mask


def mask_hash(mask: np.ndarray | None) -> str:
    """A short content hash of an exclusion mask ("none" for no exclusion)."""
    if mask is None or not mask.any():
        return "none"
    ids = np.flatnonzero(mask).astype(np.int64)
    return hashlib.sha256(ids.tobytes() + str(len(mask)).encode()).hexdigest()[:16]


def unseen_objects(
    graph: Graph, n_objects: int | np.ndarray, subj: np.ndarray, rel: np.ndarray
) -> np.ndarray:
    """[n, max n_objects] bool: objects of relation ``rel[i]`` (fewer than ``n_objects[i]``,
    an int or one per row) that no sentence of the world ever pairs with (subj[i], rel[i]):
    neither its object nor its dissenting minority object."""
    subj = np.asarray(subj, dtype=np.int64)
    rel = np.asarray(rel, dtype=np.int64)
    n_obj = np.broadcast_to(np.asarray(n_objects, dtype=np.int64), subj.shape)
    width = int(n_obj.max()) if len(n_obj) else 0
    ok = np.arange(width)[None, :] < n_obj[:, None]
    rows = np.arange(len(subj))
    ok[rows, graph.objects[subj, rel]] = False
    minority = graph.minority[subj, rel]
    has = minority >= 0
    ok[rows[has], minority[has]] = False
    return ok


def draw_unseen(
    graph: Graph,
    n_objects: int | np.ndarray,
    subj: np.ndarray,
    rel: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One object per (subj[i], rel[i]) drawn uniformly from :func:`unseen_objects`
    (-1 where none exists, e.g. a binarized relation whose other value is a minority)."""
    ok = unseen_objects(graph, n_objects, subj, rel)
    u = rng.random(ok.shape)
    u[~ok] = -1.0
    pick = np.argmax(u, axis=1) if ok.shape[1] else np.zeros(len(ok), dtype=np.int64)
    return np.where(ok.any(axis=1), pick, -1).astype(np.int64)


def relation_sizes(binarize_first: bool, objects: int, rel: np.ndarray) -> np.ndarray:
    """Objects each relation can take (relation 0 of a binarized world: 2)."""
    rel = np.asarray(rel, dtype=np.int64)
    return np.where((rel == 0) & binarize_first, 2, objects).astype(np.int64)
