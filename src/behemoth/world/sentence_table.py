"""Every distinct document of a corpus, rendered once: the stream becomes a table lookup.

In a shuffled world whose sentences have no random element (a fixed template such as ``sro``
or ``question``, no inversions, no dissenting minority, nothing excluded), document *u* is a
pure function of its group and item (which fact, in which format): its repeats are the same
tokens. The paper world writes each of its 600,000 facts 500 times; rendering 600,000 rows
once and copying them per stream position gives the same bytes as rendering every position,
several times faster (``bench/bench_reference.py``). Worlds with per-sentence randomness
(inversions, biographies, fillers, nonsense words, minority objects) render every position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Largest table kept (bytes); larger worlds render every position.
MAX_TABLE_BYTES = 1 << 28
#: Documents rendered per step while filling the table.
BUILD_CHUNK = 1 << 16


@dataclass(frozen=True)
class SentenceTable:
    """Rows of token ids, one per (group, item), padded to the longest, with their lengths.

    ``key_base[g] + local % items[g]`` is the row of a document of group ``g`` at offset
    ``local`` in the group (the corpus repeats a group's items in order), or, for a group whose
    items have different numbers of copies (``ends[g]``: one past each item's last offset;
    :mod:`behemoth.world.exposure`), ``key_base[g] + searchsorted(ends[g], local, "right")``.
    """

    rows: np.ndarray  # [keys, width] in the vocabulary's dtype (padding: 0)
    lengths: np.ndarray  # [keys] int64
    starts: np.ndarray  # [groups + 1] first unit of each group (the corpus's ``starts``)
    items: np.ndarray  # [groups] distinct documents per group
    key_base: np.ndarray  # [groups] first row of each group
    ends: tuple[np.ndarray | None, ...] = ()  # per group: item ends (variable copies), or None

    @cached_property
    def uniform(self) -> bool:
        """Whether every row has the full width (then rows are copied without masking).
        Computed once: :meth:`gather` asks on every chunk, and comparing every row's length
        each time was ~2% of writing the 100,000 x 6 x 400 world's shards (perf)."""
        return bool((self.lengths == self.rows.shape[1]).all())

    @classmethod
    def build(
        cls,
        starts: np.ndarray,
        items: Sequence[int],
        render: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        dtype: np.dtype,
        max_width: int,
        ends: Sequence[np.ndarray | None] | None = None,
    ) -> SentenceTable:
        """Render one unit of every item of every group ``g`` (unit ids from ``starts``): the
        first ``items[g]`` units, or with ``ends[g]`` the first copy of each item;
        ``render(unit ids)`` gives their (flat tokens, lengths) as the corpus renders them, none
        longer than ``max_width``."""
        ends_t = tuple(ends) if ends is not None else (None,) * len(items)
        firsts = []
        for g in range(len(items)):
            e = ends_t[g]
            if e is None:
                firsts.append(np.arange(items[g], dtype=np.int64) + starts[g])
            else:  # an item without copies is never looked up: any unit of the group will do
                first = np.concatenate([[0], e[:-1]]).astype(np.int64)
                firsts.append(np.minimum(first, int(e[-1]) - 1) + starts[g])
        units = np.concatenate(firsts)
        rows = np.zeros((len(units), max_width), dtype=dtype)
        lengths = np.zeros(len(units), dtype=np.int64)
        for a in range(0, len(units), BUILD_CHUNK):
            flat, n = render(units[a : a + BUILD_CHUNK])
            b, w = a + len(n), int(n.max())
            lengths[a:b] = n
            if (n == w).all():  # every document of this chunk has the same length
                rows[a:b, :w] = flat.reshape(len(n), w)
            else:
                rows[a:b][np.arange(max_width)[None, :] < n[:, None]] = flat
        width = int(lengths.max()) if len(lengths) else 0
        rows = np.ascontiguousarray(rows[:, :width])
        base = np.concatenate([[0], np.cumsum(items)[:-1]]).astype(np.int64)
        return cls(
            rows, lengths, np.asarray(starts, dtype=np.int64), np.asarray(items), base, ends_t
        )

    def keys(self, units: np.ndarray) -> np.ndarray:
        """Row of each unit id (in [0, n_units)). ``a - a // b * b`` rather than ``a % b``:
        numpy divides by a scalar several times faster than it takes a remainder."""
        variable = any(e is not None for e in self.ends)
        if len(self.items) == 1 and not variable:
            k = int(self.items[0])
            return units - units // k * k
        g = np.searchsorted(self.starts, units, side="right") - 1
        local = units - self.starts[g]
        if not variable:
            return self.key_base[g] + local % self.items[g]
        keys = np.empty(len(units), dtype=np.int64)
        for gi, e in enumerate(self.ends):
            m = g == gi
            if not m.any():
                continue
            if e is None:
                keys[m] = self.key_base[gi] + local[m] % self.items[gi]
            else:
                keys[m] = self.key_base[gi] + np.searchsorted(e, local[m], side="right")
        return keys

    def gather(self, units: np.ndarray) -> np.ndarray:
        """The documents of the given unit ids, concatenated, in the table's dtype."""
        keys = self.keys(units)
        width = self.rows.shape[1]
        if self.uniform:
            # one row = one fixed-size record: a single gather copies whole documents
            rec = self.rows.view(np.dtype((np.void, width * self.rows.itemsize))).reshape(-1)
            return np.take(rec, keys).view(self.rows.dtype)
        picked = np.take(self.rows, keys, axis=0)
        return picked[np.arange(width)[None, :] < self.lengths[keys][:, None]]
