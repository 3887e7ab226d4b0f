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
    ``local`` in the group (the corpus repeats a group's items in order).
    """

    rows: np.ndarray  # [keys, width] in the vocabulary's dtype (padding: 0)
    lengths: np.ndarray  # [keys] int64
    starts: np.ndarray  # [groups + 1] first unit of each group (the corpus's ``starts``)
    items: np.ndarray  # [groups] distinct documents per group
    key_base: np.ndarray  # [groups] first row of each group

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
    ) -> SentenceTable:
        """Render the first ``items[g]`` units of every group ``g`` (unit ids from ``starts``);
        ``render(unit ids)`` gives their (flat tokens, lengths) as the corpus renders them, none
        longer than ``max_width``."""
        units = np.concatenate(
            [np.arange(items[g], dtype=np.int64) + starts[g] for g in range(len(items))]
        )
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
        return cls(rows, lengths, np.asarray(starts, dtype=np.int64), np.asarray(items), base)

    def keys(self, units: np.ndarray) -> np.ndarray:
        """Row of each unit id (in [0, n_units)). ``a - a // b * b`` rather than ``a % b``:
        numpy divides by a scalar several times faster than it takes a remainder."""
        if len(self.items) == 1:
            k = int(self.items[0])
            return units - units // k * k
        g = np.searchsorted(self.starts, units, side="right") - 1
        local = units - self.starts[g]
        return self.key_base[g] + local % self.items[g]

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
