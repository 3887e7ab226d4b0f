"""Sampling the graph of facts: pure functions from a config to arrays.

Edge kinds: S-O (subject -> object), S-NO (subject -> nested object of its object) and O-NO
(object -> its nested object), the ground truth for two-hop questions (Behemoth, Sec. 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from behemoth.world.config import WorldConfig
from behemoth.world.rng import derive_rng

KINDS = ("S-O", "S-NO", "O-NO")


def _repeat(value: str, n: int) -> pa.Array:
    """A string column of one value, built by Arrow: the same array (and file bytes) as from
    a Python list of n strings, without making the list (0.04 s for 600,000 edges)."""
    return pa.repeat(pa.scalar(value, pa.string()), n)


@dataclass(frozen=True)
class Graph:
    """All facts of a world. Edge (s, r) of kind S-O has index s * R + r."""

    objects: np.ndarray  # [S, R] int64: the object index of (s, r)
    minority: np.ndarray  # [S, R] int64: the dissenting object, -1 if none
    nested_of: np.ndarray  # [R, O] int64: nested object f_r(o), or [R, 0] when nesting is off
    question_subjects: np.ndarray  # [S] bool: subject's facts also appear as questions

    @property
    def n_subjects(self) -> int:
        return int(self.objects.shape[0])

    @property
    def n_relations(self) -> int:
        return int(self.objects.shape[1])

    @property
    def nested(self) -> bool:
        return self.nested_of.shape[1] > 0

    def nested_objects(self) -> np.ndarray:
        """[S, R]: the S-NO answer of every subject and relation (f_r applied to its object)."""
        if not self.nested:
            return np.full_like(self.objects, -1)
        r = np.arange(self.n_relations)[None, :]
        return self.nested_of[r, self.objects]

    def table(self) -> pa.Table:
        """Every edge as a row: kind, subject, relation, object, minority_object, nested_object.

        For O-NO edges the object stands in the subject slot: subject is -1 and ``object`` is it.
        """
        S, R = self.objects.shape
        s = np.repeat(np.arange(S), R)
        r = np.tile(np.arange(R), S)
        o = self.objects.reshape(-1)
        no = self.nested_objects().reshape(-1)
        q = np.repeat(self.question_subjects, R)
        cols = {
            "kind": _repeat("S-O", S * R),
            "subject": s,
            "relation": r,
            "object": o,
            "minority_object": self.minority.reshape(-1),
            "nested_object": no,
            "question": q,
        }
        parts = [pa.table(cols)]
        if self.nested:
            O = self.nested_of.shape[1]
            parts.append(pa.table({**cols, "kind": _repeat("S-NO", S * R)}))
            rr = np.repeat(np.arange(R), O)
            oo = np.tile(np.arange(O), R)
            parts.append(
                pa.table(
                    {
                        "kind": _repeat("O-NO", R * O),
                        "subject": np.full(R * O, -1),
                        "relation": rr,
                        "object": oo,
                        "minority_object": np.full(R * O, -1),
                        "nested_object": self.nested_of.reshape(-1),
                        "question": np.zeros(R * O, dtype=bool),
                    }
                )
            )
        return pa.concat_tables(parts)

    def save(self, path: str | Path) -> None:
        meta = {b"behemoth.graph": b"1"}
        table = self.table().replace_schema_metadata(meta)
        tmp = Path(path).with_name(f".{Path(path).name}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Graph:
        t = pq.read_table(path)
        so = t.filter(pa.compute.equal(t["kind"], "S-O"))
        s = so["subject"].to_numpy()
        r = so["relation"].to_numpy()
        S, R = int(s.max()) + 1, int(r.max()) + 1
        objects = np.empty((S, R), dtype=np.int64)
        minority = np.empty((S, R), dtype=np.int64)
        objects[s, r] = so["object"].to_numpy()
        minority[s, r] = so["minority_object"].to_numpy()
        q = np.zeros(S, dtype=bool)
        q[s] = so["question"].to_numpy(zero_copy_only=False)
        ono = t.filter(pa.compute.equal(t["kind"], "O-NO"))
        if ono.num_rows:
            rr, oo = ono["relation"].to_numpy(), ono["object"].to_numpy()
            nested_of = np.empty((R, int(oo.max()) + 1), dtype=np.int64)
            nested_of[rr, oo] = ono["nested_object"].to_numpy()
        else:
            nested_of = np.zeros((R, 0), dtype=np.int64)
        return cls(objects, minority, nested_of, q)


def sample_graph(cfg: WorldConfig) -> Graph:
    """Sample a world's facts from its config; a pure function of (config, seed)."""
    S, R, O = cfg.subjects, cfg.relations, cfg.objects
    rng = derive_rng(cfg.seed, "graph")
    objects = rng.integers(0, O, size=(S, R), dtype=np.int64)
    if cfg.correlated_pair:
        first_n = 2 if cfg.binarize_first else O
        objects[:, 0] = rng.integers(0, first_n, size=S)
        same = rng.random(S) < cfg.correlation_strength
        # Otherwise a uniformly random *different* index (the reference biases this toward O-1).
        other = rng.integers(0, O - 1, size=S)
        other += other >= objects[:, 0]
        objects[:, 1] = np.where(same, objects[:, 0], other)

    minority = np.full((S, R), -1, dtype=np.int64)
    if cfg.minority_entity_frac > 0:
        n_min = int(round(cfg.minority_entity_frac * S * R))
        chosen = rng.choice(S * R, size=n_min, replace=False)
        flat_obj = objects.reshape(-1)[chosen]
        alt = rng.integers(0, O - 1, size=n_min)
        alt += alt >= flat_obj
        minority.reshape(-1)[chosen] = alt

    M = cfg.nested_objects
    if M:
        # Per relation, the O objects split at random into M equal groups: f_r(o) = group of o.
        base = np.repeat(np.arange(M), O // M)
        nested_of = np.stack([rng.permutation(base) for _ in range(R)])
    else:
        nested_of = np.zeros((R, 0), dtype=np.int64)

    q_rng = derive_rng(cfg.seed, "questions")
    question_subjects = np.zeros(S, dtype=bool)
    if cfg.questions_frac > 0:
        n_q = int(round(cfg.questions_entity_frac * S))
        question_subjects[q_rng.choice(S, size=n_q, replace=False)] = True
    return Graph(objects, minority, nested_of, question_subjects)
